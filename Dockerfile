# syntax=docker/dockerfile:1
# The pg-static-cache image: the `pg-static-cache` command from built JavaScript, run as a non-root
# user, with only the runtime dependencies of the published packages. Default: a bridge.
#   docker build -t pg-static-cache .
#   docker run --rm -e DATABASE_URL=… -e REDIS_URL=… -p 127.0.0.1:9464:9464 pg-static-cache
#   docker run --rm -e DATABASE_URL=… pg-static-cache install --table countries
# See docs/deployment.md. test/deploy/ checks this file and runs the build stage's commands after
# its last COPY, verbatim, to build and start the same layout without Docker.

# Where the tarballs go, and where the command is installed (the same path in both stages).
ARG PACKS=/tmp/packs
ARG APP=/opt/pg-static-cache

FROM node:20-bookworm-slim AS build
ARG PACKS
ARG APP
WORKDIR /src
# Manifests first: the `npm ci` layer is rebuilt only when dependencies change. npm ci needs every
# workspace's package.json.
COPY package.json package-lock.json .npmrc ./
COPY libs/protocol/package.json libs/protocol/
COPY libs/postgres/package.json libs/postgres/
COPY libs/client/package.json libs/client/
COPY apps/bridge/package.json apps/bridge/
COPY apps/cli/package.json apps/cli/
COPY apps/demo/package.json apps/demo/
COPY infra/local/package.json infra/local/
COPY bench/package.json bench/
COPY test/support/package.json test/support/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
# The packages exactly as they are published (each one's `files`), then installed the way a user
# installs them from the registry: no dev dependencies, no tsx, no sources of other workspaces.
RUN mkdir -p "$PACKS" && npm pack --pack-destination "$PACKS" \
      -w libs/protocol -w libs/postgres -w libs/client -w apps/bridge -w apps/cli
RUN mkdir -p "$APP" && cd "$APP" \
    && printf '{"name":"pg-static-cache-image","private":true}\n' > package.json \
    && npm install --omit=dev --no-audit --no-fund "$PACKS"/*.tgz \
    && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
ARG APP
# Same base image as the build stage, so optional native prebuilds (msgpackr-extract) match.
COPY --from=build ${APP} ${APP}
WORKDIR ${APP}
# 0.0.0.0: probes and scrapers reach the health and metrics port from outside the container. Bull
# Board stays read-only and loopback-only unless PSC_BOARD_PASSWORD is set.
ENV NODE_ENV=production \
    PATH="$APP/node_modules/.bin:$PATH" \
    PSC_HTTP_HOST=0.0.0.0
# The node image's `node` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 9464
# No curl in the slim image: Node's fetch. PSC_HTTP_PORT when it is set, else the default port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PSC_HTTP_PORT || 9464) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["pg-static-cache"]
CMD ["bridge"]

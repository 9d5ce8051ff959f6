import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** What /readyz reports. */
export interface Readiness {
  readonly ready: boolean;
  readonly body: Readonly<Record<string, unknown>>;
}

/** The health and metrics endpoints of one bridge. */
export interface HttpEndpoints {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** A handler served under a path prefix (Bull Board at /queues). */
export interface HttpMount {
  readonly path: string;
  readonly handler: RequestHandler;
}

/**
 * Serves `/healthz` (the process answers), `/readyz` (200 when it can do its job, 503 otherwise,
 * JSON either way), `/metrics` (Prometheus text of the bridge's own registry) and any `mounts`.
 */
export async function startHttpServer(options: {
  readonly host: string;
  readonly port: number;
  readonly readiness: () => Readiness;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly mounts?: readonly HttpMount[];
}): Promise<HttpEndpoints> {
  const { registry, readiness, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const { ready, body } = readiness();
    res.status(ready ? 200 : 503).json({ ready, ...body });
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType).send(await registry.metrics());
  });
  for (const { path, handler } of options.mounts ?? []) app.use(path, handler);
  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'HTTP server error'));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (a Prometheus scraper) would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

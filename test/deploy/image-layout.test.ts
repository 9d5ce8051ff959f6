// What the image does, without a Docker engine: the Dockerfile's own build commands make the
// runtime layout in a temporary folder (test/deploy/image-layout.ts), and from it, with the image's
// environment, entry point and health check, this test runs the bridge, the compose file's whole
// "system" profile, and a memory comparison of built JavaScript against the tsx run from source.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorld, started, type World } from '../cli/bridge-world.ts';
import { basicAuthorization, httpRequest } from '../support/http.ts';
import { uniqueName, waitFor } from '../support/index.ts';
import { runCommand, type ChildEnv, type SpawnedProcess } from '../support/process.ts';
import { ENDPOINTS, readYamlDocuments } from './deploy-files.ts';
import {
  buildImageLayout,
  folderBytes,
  installedPackages,
  LAYOUT_BUILD_MS,
  residentBytes,
  runHealthcheck,
  spawnFromImage,
  type ImageLayout,
} from './image-layout.ts';

const TEST_MS = 180_000;
const MB = 1024 * 1024;

let dir: string;
let layout: ImageLayout;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'psc-image-'));
  layout = await buildImageLayout(dir);
}, LAYOUT_BUILD_MS);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Whether `url` answers 200 now. */
async function answers(url: string): Promise<boolean> {
  return (await httpRequest(url).catch(() => undefined))?.status === 200;
}

/** A bridge's `started` line, with its port. */
async function startedOn(proc: SpawnedProcess): Promise<{ http: string; port: string }> {
  const { http } = await started(proc);
  return { http, port: new URL(http).port };
}

describe('the image, built without Docker', () => {
  it('holds the published packages with runtime dependencies only', async () => {
    const installed = await installedPackages(layout);
    for (const name of [
      'pg-static-cache',
      '@pg-static-cache/bridge',
      '@pg-static-cache/client',
      '@pg-static-cache/postgres',
      '@pg-static-cache/protocol',
    ]) {
      expect(installed).toContain(name);
    }
    for (const devTool of ['tsx', 'typescript', 'vitest', 'esbuild', 'eslint', 'prettier']) {
      expect(installed).not.toContain(devTool);
    }
    const bytes = await folderBytes(join(layout.app, 'node_modules'));
    process.stdout.write(`[deploy] image node_modules: ${(bytes / MB).toFixed(1)} MB\n`);
  });

  it(
    'starts a bridge that answers /healthz, /readyz and /metrics, and its HEALTHCHECK follows it',
    async () => {
      await using world = await createWorld();
      const bridge = spawnFromImage(
        layout,
        [...layout.cmd, ...world.naming, '--http-port', '0', '--log-level', 'warn'],
        // The image listens on 0.0.0.0; on a shared machine, loopback does.
        { ...world.env, PSC_HTTP_HOST: '127.0.0.1' },
      );
      try {
        const { http, port } = await startedOn(bridge);
        expect(await answers(`${http}${ENDPOINTS.health}`)).toBe(true);
        await waitFor('/readyz 200', () => answers(`${http}${ENDPOINTS.ready}`), 30_000);
        const metrics = await httpRequest(`${http}${ENDPOINTS.metrics}`);
        expect(metrics.text).toMatch(/^psc_/m);
        expect(await runHealthcheck(layout, { PSC_HTTP_PORT: port })).toBe(0);
        expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
        expect(await runHealthcheck(layout, { PSC_HTTP_PORT: port })).toBe(1);
      } finally {
        await bridge.stop('SIGKILL');
      }
    },
    TEST_MS,
  );
});

// ---- docker-compose.yml's "system" profile, each service run from the layout ----

const composeService = z.object({
  image: z.string(),
  profiles: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  ports: z.array(z.string()).optional(),
});
type ComposeService = z.infer<typeof composeService>;

/** `${NAME:-default}` as compose fills it when NAME is unset (the test sets none of them). */
const interpolate = (value: string): string =>
  value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, (_whole, fallback: string) => fallback);

describe("docker-compose.yml's system profile, run from the image layout", () => {
  it(
    'creates the table, installs its trigger, elects a bridge, and the app follows a commit through snapshots',
    async () => {
      const [doc] = await readYamlDocuments('docker-compose.yml');
      const services = new Map(
        Object.entries(
          z.object({ services: z.record(z.string(), composeService) }).parse(doc).services,
        ),
      );
      const system = [...services].filter(([, s]) => s.profiles?.includes('system') === true);
      const named = (command: string) =>
        system.filter(([, s]) => (s.command ?? layout.cmd)[0] === command);

      await using world = await createWorld();
      // Isolated from other tests: the world's namespace, channel and function; the compose
      // commands otherwise run as written, with the compose environment (its defaults filled in).
      const naming = ['--channel', world.channel, '--function-name', world.functionName];
      const isolated: ChildEnv = {
        ...world.env,
        PSC_NAMESPACE: world.names.namespace,
        PSC_CHANNEL: world.channel,
        PSC_FUNCTION_NAME: world.functionName,
        PSC_HTTP_HOST: '127.0.0.1',
        PSC_HTTP_PORT: '0',
        PSC_LOG_LEVEL: 'warn',
      };
      const envOf = (service: ComposeService): ChildEnv => ({
        ...Object.fromEntries(
          Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(v)]),
        ),
        ...isolated,
      });

      // example-table: its psql command, against the world's schema.
      const [[, table] = []] = system.filter(([, s]) => s.command?.[0] === 'psql');
      const db = new URL(world.schema.url);
      const psql = await runCommand(table?.command?.[0] ?? 'psql', table?.command?.slice(1) ?? [], {
        cwd: repoRoot,
        env: {
          PGHOST: db.hostname,
          PGPORT: db.port,
          PGUSER: decodeURIComponent(db.username),
          PGDATABASE: db.pathname.slice(1),
          PGOPTIONS: `-c search_path=${world.schema.schema}`,
        },
      });
      expect(psql.code, psql.stderr).toBe(0);

      const processes: SpawnedProcess[] = [];
      const run = (service: ComposeService, extra: readonly string[] = []): SpawnedProcess => {
        const proc = spawnFromImage(
          layout,
          [...(service.command ?? layout.cmd), ...extra],
          envOf(service),
        );
        processes.push(proc);
        return proc;
      };
      try {
        const [[, install] = []] = named('install');
        const installed = run(install as ComposeService, naming);
        expect(await installed.exit, installed.stderr).toEqual({ code: 0, signal: null });

        const bridges = named('bridge');
        expect(bridges).toHaveLength(2);
        const ports = await Promise.all(bridges.map(([, s]) => startedOn(run(s))));
        const [[, worker] = []] = named('worker');
        await started(run(worker as ComposeService));
        const [[, app] = []] = named('watch');
        const watch = run(app as ComposeService);

        const first = await watch.waitForLine((l) => l.startsWith('{"table":'), {
          timeoutMs: 60_000,
        });
        expect(JSON.parse(first)).toMatchObject({
          table: `${world.schema.schema}.countries`,
          rows: 3,
        });
        await world.schema.pool.query(`UPDATE countries SET name = 'France!' WHERE code = 'FR'`);
        const next = await watch.waitForLine((l) => l.startsWith('{"table":') && l !== first, {
          timeoutMs: 60_000,
        });
        expect(JSON.parse(next)).toMatchObject({ rows: 3, version: 2 });
        // The worker stored the new rows and said so: the app read a snapshot.
        await waitFor('a snapshot message for countries', () =>
          world.events.some(
            (e) => e.type === 'snapshot' && e.table === `${world.schema.schema}.countries`,
          ),
        );

        // Bull Board on the first bridge, with the password compose gives it.
        const [[, first1] = []] = bridges;
        const password = interpolate(first1?.environment?.['PSC_BOARD_PASSWORD'] ?? '');
        const board = await httpRequest(`http://127.0.0.1:${ports[0]?.port}${ENDPOINTS.board}`, {
          headers: { authorization: basicAuthorization('admin', password) },
        });
        expect(board.status).toBe(200);
      } finally {
        await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      }
    },
    TEST_MS,
  );
});

// ---- Resident memory: built JavaScript against the tsx run from source ----

/** A Kubernetes memory quantity (`192Mi`, `1Gi`, `500M`) in bytes. */
function quantityBytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  if (match === null) throw new Error(`unreadable quantity ${quantity}`);
  const units: Record<string, number> = { Ki: 1024, Mi: MB, Gi: 1024 * MB, K: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (units[match[2] ?? ''] ?? 1);
}

describe('resident memory of a bridge', () => {
  it(
    'is measured for the built bridge and the tsx one, each leading and having stored a snapshot',
    async () => {
      const measure = async (
        what: string,
        start: (world: World) => SpawnedProcess,
      ): Promise<{ self: number; withChildren: number }> => {
        await using world = await createWorld();
        const bridge = start(world);
        try {
          const { http } = await startedOn(bridge);
          await waitFor(`${what}: /readyz 200`, () => answers(`${http}${ENDPOINTS.ready}`), 30_000);
          await world.schema.pool.query(`UPDATE items SET label = 'uno' WHERE id = 1`);
          await waitFor(
            `${what}: a snapshot of items`,
            () => world.events.some((e) => e.type === 'snapshot'),
            30_000,
          );
          const pid = bridge.child.pid;
          if (pid === undefined) throw new Error(`${what} has no pid`);
          return await residentBytes(pid);
        } finally {
          await bridge.stop('SIGKILL');
        }
      };
      const bridgeArgs = (world: World) => [
        'bridge',
        ...world.naming,
        '--bridge-id',
        uniqueName('mem'),
        '--http-port',
        '0',
        '--log-level',
        'warn',
      ];
      const built = await measure('built', (world) =>
        spawnFromImage(layout, bridgeArgs(world), { ...world.env, PSC_HTTP_HOST: '127.0.0.1' }),
      );
      const tsx = await measure('tsx', (world) => world.spawn(bridgeArgs(world)));
      const report = {
        builtRssMb: +(built.self / MB).toFixed(1),
        tsxRssMb: +(tsx.self / MB).toFixed(1),
        tsxWithChildrenRssMb: +(tsx.withChildren / MB).toFixed(1),
      };
      process.stdout.write(`[deploy] bridge resident memory: ${JSON.stringify(report)}\n`);
      await writeFile(
        join(repoRoot, '.test-results', 'bridge-memory.json'),
        `${JSON.stringify(report)}\n`,
      ).catch(() => undefined);
      expect(built.self).toBeLessThan(tsx.self);
      // The Kubernetes manifest requests enough for what the bridge actually holds.
      const [deployment] = await readYamlDocuments('deploy/k8s/bridge-deployment.yaml');
      const request = z
        .object({
          spec: z.object({
            template: z.object({
              spec: z.object({
                containers: z.array(
                  z.object({
                    resources: z.object({ requests: z.object({ memory: z.string() }) }),
                  }),
                ),
              }),
            }),
          }),
        })
        .parse(deployment).spec.template.spec.containers[0]?.resources.requests.memory;
      expect(built.self).toBeLessThan(quantityBytes(request ?? '0'));
    },
    TEST_MS,
  );
});

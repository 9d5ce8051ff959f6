// A service in another repository: pack every publishable package, install the tarballs into a
// throwaway project outside this repository, and use them there as a user would — plain Node ESM,
// a strict `module: nodenext` TypeScript check that reads every declaration file, and the bin.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withBuildLock } from '../support/build-lock.ts';
import { createTestSchema, type TestSchema } from '../support/index.ts';
import {
  runCommand,
  spawnCommand,
  type ChildEnv,
  type SpawnedProcess,
} from '../support/process.ts';

/** Every package a user may install, by workspace folder. */
const PUBLISHED = ['libs/protocol', 'libs/postgres', 'libs/client', 'apps/bridge', 'apps/cli'];
/** npm install, pack and tsc on a busy two-core machine. */
const SLOW_MS = 240_000;

// Nothing of this repository's development setup may leak into the consumer: no source
// condition, no tsx. The registry and npm's cache are the user's as well.
const CONSUMER_ENV: ChildEnv = { NODE_OPTIONS: undefined, npm_config_workspace: undefined };

let dir: string;
let tarballs: string[] = [];
let schema: TestSchema | undefined;

/** The test's schema, made in beforeAll. */
function db(): TestSchema {
  if (schema === undefined) throw new Error('beforeAll did not finish');
  return schema;
}

async function run(command: string, args: readonly string[], env: ChildEnv = {}) {
  const result = await runCommand(command, args, {
    cwd: dir,
    env: { ...CONSUMER_ENV, ...env },
    timeoutMs: SLOW_MS,
  });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  }
  return result;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'psc-consumer-'));
  const packs = join(dir, 'packs');
  await mkdir(packs);
  // `npm pack` runs each package's prepack: the build to JavaScript (never two builds at once).
  const pack = await withBuildLock(SLOW_MS, () =>
    runCommand(
      'npm',
      ['pack', ...PUBLISHED.flatMap((w) => ['-w', w]), '--pack-destination', packs],
      { cwd: repoRoot, env: CONSUMER_ENV, timeoutMs: SLOW_MS },
    ),
  );
  expect(pack.code, pack.stderr).toBe(0);
  tarballs = (await readdir(packs)).map((file) => join(packs, file));
  expect(tarballs).toHaveLength(PUBLISHED.length);
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await run('npm', [
    'install',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    ...tarballs,
    // The optional peer dependency of @pg-static-cache/client/metrics.
    'prom-client@^15.1.3',
    // For the TypeScript check only.
    'typescript@~6.0.3',
    '@types/node@^20.19.0',
  ]);
  schema = await createTestSchema('psc_consumer');
  await db().pool.query(`CREATE TABLE plans (id int PRIMARY KEY, name text);
                           INSERT INTO plans VALUES (1, 'free')`);
}, SLOW_MS);

afterAll(async () => {
  await schema?.[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe('installed from tarballs, outside the repository', () => {
  it(
    'the bin installs triggers, and plain Node ESM follows a commit with StaticCache',
    async () => {
      const env = { DATABASE_URL: db().url };
      expect((await run('npx', ['pg-static-cache', '--help'])).stdout).toMatch(/^Usage:/);
      await run('npx', ['pg-static-cache', 'install', '--table', 'plans'], env);
      await writeFile(
        join(dir, 'app.mjs'),
        `import { StaticCache, createSubscriber } from '@pg-static-cache/client';
const plans = new StaticCache({ table: 'plans' });
const subscriber = createSubscriber({ mode: 'direct', pg: process.env.DATABASE_URL, caches: [plans] });
subscriber.on('reload', () => console.log(JSON.stringify(plans.get(1))));
await subscriber.start();
process.on('SIGTERM', () => void subscriber.close());
`,
      );
      await using app = spawnCommand('node', ['app.mjs'], {
        cwd: dir,
        env: { ...CONSUMER_ENV, ...env },
      });
      await app.waitForLine((line) => line === '{"id":1,"name":"free"}');
      await db().pool.query(`UPDATE plans SET name = 'pro' WHERE id = 1`);
      await app.waitForLine((line) => line === '{"id":1,"name":"pro"}');
    },
    SLOW_MS,
  );

  it(
    'watch prints a version line per change',
    async () => {
      // The bin itself, not `npx`: npx would leave its child behind when stopped.
      await using watch: SpawnedProcess = spawnCommand(
        join(dir, 'node_modules', '.bin', 'pg-static-cache'),
        ['watch', '--table', 'plans'],
        { cwd: dir, env: { ...CONSUMER_ENV, DATABASE_URL: db().url } },
      );
      const first = await watch.waitForLine((line) => line.startsWith('{"table":'));
      expect(JSON.parse(first)).toMatchObject({ table: `${db().schema}.plans`, rows: 1 });
      await db().pool.query(`INSERT INTO plans VALUES (2, 'team')`);
      await watch.waitForLine((line) => line.includes('"rows":2'));
    },
    SLOW_MS,
  );

  it(
    "the metrics subpath reports the caches on the app's own prom-client registry",
    async () => {
      await writeFile(
        join(dir, 'metrics.mjs'),
        `import { StaticCache, createSubscriber } from '@pg-static-cache/client';
import { registerCacheMetrics } from '@pg-static-cache/client/metrics';
import { Registry } from 'prom-client';
const plans = new StaticCache({ table: 'plans' });
const subscriber = createSubscriber({ mode: 'direct', pg: process.env.DATABASE_URL, caches: [plans] });
const registry = new Registry();
registerCacheMetrics(subscriber, registry);
await subscriber.start();
console.log(await registry.metrics());
await subscriber.close();
`,
      );
      const { stdout } = await run('node', ['metrics.mjs'], { DATABASE_URL: db().url });
      const labels = `table="${db().schema}.plans",cache="plans"`;
      expect(stdout).toMatch(new RegExp(`^psc_client_cache_version\\{${labels}\\} 1$`, 'm'));
      expect(stdout).toMatch(new RegExp(`^psc_client_cache_stale\\{${labels}\\} 0$`, 'm'));
    },
    SLOW_MS,
  );

  it(
    'type-checks with module nodenext, strict and skipLibCheck false',
    async () => {
      await writeFile(
        join(dir, 'check.ts'),
        `import { StaticCache, createSubscriber, sql, type ReloadEvent } from '@pg-static-cache/client';
import { registerCacheMetrics, type CacheMetrics } from '@pg-static-cache/client/metrics';
import { Registry } from 'prom-client';
interface Plan { readonly id: number; readonly name: string }
const plans = new StaticCache<Plan>({ table: 'plans', where: sql\`id > \${0}\` });
const subscriber = createSubscriber({ mode: 'snapshot', pg: 'postgres://x', redis: 'redis://x', caches: [plans] });
subscriber.on('reload', (event: ReloadEvent) => console.log(event.rows, event.cache.name));
const metrics: CacheMetrics = registerCacheMetrics(subscriber, new Registry(), { buckets: [0.01, 1] });
metrics.unregister();
const plan: Plan | undefined = plans.get(1);
export const names: readonly string[] = plans.all().map((p) => p.name).concat(plan?.name ?? '');
`,
      );
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2022',
            strict: true,
            exactOptionalPropertyTypes: true,
            skipLibCheck: false,
            noEmit: true,
            types: ['node'],
          },
          files: ['check.ts'],
        }),
      );
      await run('npx', ['tsc', '-p', 'tsconfig.json']);
    },
    SLOW_MS,
  );

  it(
    'publint and arethetypeswrong (ESM-only profile) find no problem in any tarball',
    async () => {
      const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);
      for (const tarball of tarballs) {
        const lint = await runCommand(bin('publint'), ['run', '--strict', tarball], {
          cwd: dir,
          env: CONSUMER_ENV,
          timeoutMs: SLOW_MS,
        });
        expect(lint.code, `${tarball}\n${lint.stdout}${lint.stderr}`).toBe(0);
        expect(lint.stdout).toContain('All good!');
        // The CLI package exports nothing to import: only its bin.
        if (/[/]pg-static-cache-\d[^/]*\.tgz$/.test(tarball)) continue;
        const types = await runCommand(bin('attw'), [tarball, '--profile', 'esm-only'], {
          cwd: dir,
          env: CONSUMER_ENV,
          timeoutMs: SLOW_MS,
        });
        expect(types.code, `${tarball}\n${types.stdout}${types.stderr}`).toBe(0);
      }
    },
    SLOW_MS,
  );

  it('require() fails with a message that says the package is ESM-only', async () => {
    const result = await runCommand('node', ['-e', "require('@pg-static-cache/client')"], {
      cwd: dir,
      env: CONSUMER_ENV,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('@pg-static-cache/client is ESM-only');
  });
});

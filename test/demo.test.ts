// `npm run demo` end to end: the real entry point, as a child process, against the test run's
// services, in a schema (and bridge namespace) and on a channel of its own. The default run is
// snapshot mode (two bridges with reload workers, the leader killed midway); `--mode redis` has the
// same bridges without workers, `--regions` adds a region b (its own Redis, worker, apps and a
// delayed replica), `--mode direct` keeps the LISTEN-per-app flow. The apps are
// `pg-static-cache watch` processes; each run counts the table queries Postgres ran per change.
import { repoRoot } from '@pg-static-cache/local-services';
import { dropDemo, dropDemoNamespace } from '@pg-static-cache/demo';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl, uniqueName } from './support/index.ts';
import { runCommand, type CliRun, type ChildEnv } from './support/process.ts';

// The demo promises to finish within 60 s; the first three runs take about 20 s together on a quiet
// machine, --regions (a replica to copy, reads that wait for its 1 s delay) more on its own.
const DEADLINE_MS = 60_000;

/** Runs the demo like `npm run demo -- ...args`; killed at the deadline. */
function runDemo(args: readonly string[], env: ChildEnv): Promise<CliRun> {
  const main = ['--import', 'tsx', 'apps/demo/src/main.ts', ...args];
  return runCommand(process.execPath, main, { cwd: repoRoot, env, timeoutMs: DEADLINE_MS });
}

/** Runs the demo in its own schema and channel, checks what every mode must show, and cleans up. */
async function runConverging(args: readonly string[]): Promise<string> {
  const schema = uniqueName('psc_demo_test');
  const channel = uniqueName('psc_demo_test');
  try {
    const run = await runDemo(args, {
      DATABASE_URL: databaseUrl(),
      REDIS_URL: redisUrl(),
      PSC_DEMO_SCHEMA: schema,
      PSC_DEMO_CHANNEL: channel,
    });
    const report = `${run.stdout}\n${run.stderr}`;
    expect(run.code, report).toBe(0);
    expect(run.stdout).toContain(`schema ${schema} recreated`);
    for (const app of ['app-1', 'app-2', 'app-3']) {
      expect(run.stdout, report).toMatch(
        new RegExp(`^\\s+${app}\\s.*\\sconverged: digest matches the database$`, 'm'),
      );
    }
    expect(run.stdout).not.toMatch(/NOT converged|FAILED/);
    // Every numbered step is followed by its convergence line.
    const steps = run.stdout.match(/^\[.*\] \d+\. /gm) ?? [];
    expect(steps.length).toBeGreaterThanOrEqual(8);
    expect(run.stdout.match(/→ converged \(/g)).toHaveLength(steps.length);
    expect(run.stdout).toContain('the rollback caused no reload');
    expect(run.stdout).toContain('counting table queries with pg_stat_statements');
    expect(run.stdout).toContain('demo passed');
    return run.stdout;
  } finally {
    const pool = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
    try {
      await dropDemo(pool, schema, channel);
    } finally {
      await pool.end();
    }
    await dropDemoNamespace(redisUrl(), schema);
  }
}

/** What redis and snapshot mode share: two bridges, one killed midway and replaced. */
function expectBridgeFailover(stdout: string, apps = 3): void {
  expect(stdout).toMatch(/^\[.*\] bridge-[ab] leads: epoch \d+/m);
  expect(stdout).toMatch(/SIGKILL it/);
  expect(stdout).toMatch(/bridge-[ab] took over: epoch \d+, [\d.]+ ms after the kill/);
  expect(stdout).toMatch(new RegExp(`kill → all ${apps} apps converged in [\\d.]+ ms`));
  expect(stdout).toMatch(/bridge-[ab] restarted \(pid \d+\): standby/);
  expect(stdout).toMatch(/pg_terminate_backend\(\d+\) \(LISTEN session of the leader bridge-[ab]/);
}

/** One run per mode: its flags and what its output must show beyond what every mode shows. */
const RUNS: readonly { title: string; args: string[]; check: (stdout: string) => void }[] = [
  {
    title: 'snapshot mode (the default): the workers query each changed table once for all apps',
    args: [],
    check: (stdout) => {
      expectBridgeFailover(stdout);
      expect(stdout).toMatch(/the workers stored 3 snapshots/);
      expect(stdout).toMatch(/9 cache loads \(9 from snapshots\)/);
      // Steps 1-3 change one table each: one snapshot, no query by any app.
      expect(stdout).toMatch(
        /^.*→ converged \(countries v\d+\).* · from snapshots · table queries: 1 \(worker\) \+ 0 \(apps\)$/m,
      );
      expect(stdout).toMatch(/Postgres connections: \d+ for 3 apps in snapshot mode \+ 2 bridges/);
      expect(stdout).toMatch(/queries per change: snapshot mode ≈ 1 per change for 3 apps/);
    },
  },
  {
    title: '--mode redis: the bridges relay every change, each app queries Postgres itself',
    args: ['--mode', 'redis'],
    check: (stdout) => {
      expectBridgeFailover(stdout);
      expect(stdout).not.toMatch(/from snapshots|reload job|workers stored/);
      expect(stdout).toMatch(/^.*→ converged \(countries v\d+\).* · table queries: 3 \(apps\)$/m);
      expect(stdout).toMatch(/Postgres connections: \d+ for 3 apps in redis mode \+ 2 bridges/);
      expect(stdout).toMatch(/queries per change: redis mode ≈ 3 per change for 3 apps/);
    },
  },
  {
    title: '--regions: region b follows its own Redis, worker and a replica 1 s behind',
    args: ['--regions'],
    check: (stdout) => {
      expectBridgeFailover(stdout, 5);
      expect(stdout).toMatch(/region b: Redis redis:\/\/\S+, replica \S+ replaying 1000 ms behind/);
      expect(stdout).toMatch(
        /the bridges also publish to \S+ \(--region b=\S+\) and a worker there/,
      );
      for (const app of ['app-b1', 'app-b2']) {
        expect(stdout).toMatch(
          new RegExp(`^\\s+${app}\\s.*\\sconverged: digest matches the database$`, 'm'),
        );
      }
      // Every step says who served each region's rows, and region b's apps converged each time.
      const converged = stdout.match(/→ converged \(.*$/gm) ?? [];
      expect(converged.length).toBeGreaterThanOrEqual(8);
      for (const line of converged) {
        expect(line).toMatch(/ app-b1 [\d.]+ ms · app-b2 [\d.]+ ms/);
        expect(line).toMatch(
          / · home: \d+ (snapshot|primary).* · b: \d+ (snapshot|replica|primary)/,
        );
      }
      expect(stdout).toMatch(/region b's worker: [1-9]\d* table queries on the replica/);
      expect(stdout).toContain(
        'demo passed: every app in both regions converged after every change',
      );
    },
  },
  {
    title: '--mode direct: each app LISTENs itself, one loses its session and reconnects',
    args: ['--mode', 'direct'],
    check: (stdout) => {
      expect(stdout).not.toMatch(/bridge/);
      expect(stdout).toMatch(/app-2 reconnected and reloaded all 3 caches/);
      expect(stdout).toMatch(/Postgres connections: \d+ for 3 apps in direct mode/);
      expect(stdout).toMatch(/queries per change: direct mode ≈ 3 per change for 3 apps/);
    },
  },
];

describe('npm run demo', () => {
  for (const { title, args, check } of RUNS) {
    it(`${title}; every app converges, exit 0`, { timeout: DEADLINE_MS + 30_000 }, async () => {
      check(await runConverging(args));
    });
  }

  it('rejects a bad flag with one line and exit code 2', async () => {
    const run = await runDemo(['--schema', 'Bad Name'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^demo: invalid schema "Bad Name".*\n$/);
    expect(run.stdout).toBe('');
    const direct = await runDemo(['--regions', '--mode', 'direct'], {});
    expect(direct).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'demo: --regions needs the bridges: use --mode snapshot or redis\n',
    });
  });
});

// `npm run demo` end to end: the real entry point, as a child process, against the test run's
// services, in a schema (and bridge namespace) and on a channel of its own. The default run is
// redis mode (two bridges, the leader killed midway); `--mode direct` keeps the LISTEN-per-app flow.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { dropDemo, dropDemoNamespace } from '@pg-static-cache/demo';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl, uniqueName } from './support/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
// The demo promises to finish within 60 s; both runs together stay under 90 s on a quiet machine.
const DEADLINE_MS = 60_000;

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the demo like `npm run demo -- ...args`; SIGKILLs it at the deadline (and always in finally). */
async function runDemo(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/demo/src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
  try {
    const [code, signal] = await exited;
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
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
    expect(run.stdout).toContain('the rollback caused no reload');
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

describe('npm run demo', () => {
  it(
    'redis mode (the default): bridges relay every change, a killed leader is replaced, all three apps converge, exit 0',
    { timeout: DEADLINE_MS + 30_000 },
    async () => {
      const stdout = await runConverging([]);
      expect(stdout).toMatch(/^\[.*\] bridge-[ab] leads: epoch \d+/m);
      expect(stdout).toMatch(/SIGKILL it/);
      expect(stdout).toMatch(/bridge-[ab] took over: epoch \d+, [\d.]+ ms after the kill/);
      expect(stdout).toMatch(/kill → all 3 apps converged in [\d.]+ ms/);
      expect(stdout).toMatch(/bridge-[ab] restarted \(pid \d+\): standby/);
      expect(stdout).toMatch(
        /pg_terminate_backend\(\d+\) \(LISTEN session of the leader bridge-[ab]/,
      );
      expect(stdout).toMatch(/Postgres connections: \d+ for 3 apps in redis mode \+ 2 bridges/);
    },
  );

  it(
    '--mode direct: each app LISTENs itself, one loses its session and reconnects, all converge, exit 0',
    { timeout: DEADLINE_MS + 30_000 },
    async () => {
      const stdout = await runConverging(['--mode', 'direct']);
      expect(stdout).not.toMatch(/bridge/);
      expect(stdout).toMatch(/app-2 reconnected after [\d.]+ ms and reloaded all 3 caches/);
      expect(stdout).toMatch(/Postgres connections: \d+ for 3 apps in direct mode/);
    },
  );

  it('rejects a bad flag with one line and exit code 2', async () => {
    const run = await runDemo(['--schema', 'Bad Name'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^demo: invalid schema "Bad Name".*\n$/);
    expect(run.stdout).toBe('');
  });
});

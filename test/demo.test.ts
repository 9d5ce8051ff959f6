// `npm run demo` end to end: the real entry point, as a child process, against the test run's
// services, in a schema and on a channel of its own.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { dropDemo } from '@pg-static-cache/demo';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl, uniqueName } from './support/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const DEADLINE_MS = 90_000;

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

describe('npm run demo', () => {
  it(
    'shows all three app processes converging and exits 0',
    { timeout: DEADLINE_MS + 30_000 },
    async () => {
      const schema = uniqueName('psc_demo_test');
      const channel = uniqueName('psc_demo_test');
      try {
        const run = await runDemo([], {
          DATABASE_URL: databaseUrl(),
          REDIS_URL: redisUrl(),
          PSC_DEMO_SCHEMA: schema,
          PSC_DEMO_CHANNEL: channel,
        });
        const report = `${run.stdout}\n${run.stderr}`;
        expect(run.code, report).toBe(0);
        expect(run.stdout).toContain(`schema ${schema} recreated`);
        for (const app of ['app-1', 'app-2', 'app-3']) {
          expect(run.stdout).toMatch(
            new RegExp(`^\\s+${app}\\s.*\\sconverged: digest matches the database$`, 'm'),
          );
        }
        expect(run.stdout).not.toMatch(/NOT converged|FAILED/);
        expect(run.stdout).toContain('the rollback caused no reload');
      } finally {
        const pool = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
        try {
          await dropDemo(pool, schema, channel);
        } finally {
          await pool.end();
        }
      }
    },
  );

  it('rejects a bad flag with one line and exit code 2', async () => {
    const run = await runDemo(['--schema', 'Bad Name'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^demo: invalid schema "Bad Name".*\n$/);
    expect(run.stdout).toBe('');
  });
});

// Spawns real processes for cross-process tests (the CLI's bin, or `node --import tsx <file>`),
// collects their output line by line, waits for lines with a deadline, and always cleans up.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Extra environment for the child; `undefined` removes a variable inherited from the test. */
export type ChildEnv = Readonly<Record<string, string | undefined>>;

/** Where to look for a line. */
export interface WaitForLineOptions {
  /** Generous: on a loaded two-core machine a cold `tsx` start alone can take seconds. @default 30000 */
  readonly timeoutMs?: number;
  /** Only lines at or after this index count (take `lines.length` before acting). @default 0 */
  readonly from?: number;
  /** @default 'stdout' */
  readonly stream?: 'stdout' | 'stderr';
}

/** A running child with its output; `await using` kills it if it is still running. */
export interface SpawnedProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  /** Complete stdout lines so far. */
  readonly lines: readonly string[];
  /** `performance.now()` when each of {@link lines} was read (for latencies across processes). */
  readonly lineTimes: readonly number[];
  /** `performance.now()` when each of {@link stderrLines} was read. */
  readonly stderrLineTimes: readonly number[];
  /** Complete stderr lines so far. */
  readonly stderrLines: readonly string[];
  /** All stdout text so far. */
  readonly stdout: string;
  /** All stderr text so far. */
  readonly stderr: string;
  /** Resolves once the process ended and its output is read; never rejects. */
  readonly exit: Promise<ProcessExit>;
  /** The first line matching `predicate`; rejects at the deadline or if the process ends first. */
  waitForLine(predicate: (line: string) => boolean, options?: WaitForLineOptions): Promise<string>;
  /** Sends `signal` (if still running) and waits for the exit; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ProcessExit>;
}

/** A JSON object line (the CLI's stdout and stderr events, pino logs); undefined for anything else. */
export function parseJsonLine(line: string): Readonly<Record<string, unknown>> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The real bin, exactly as `npx pg-static-cache` runs it. */
export const CLI_BIN = join(repoRoot, 'node_modules', '.bin', 'pg-static-cache');

interface Waiter {
  readonly stream: 'stdout' | 'stderr';
  readonly from: number;
  readonly predicate: (line: string) => boolean;
  readonly resolve: (line: string) => void;
}

function childEnv(env: ChildEnv): NodeJS.ProcessEnv {
  const merged = Object.entries({ ...process.env, ...env }).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  return Object.fromEntries(merged);
}

function tail(lines: readonly string[], n = 20): string {
  return lines.slice(-n).join('\n') || '(nothing)';
}

function track(child: ChildProcess, what: string): SpawnedProcess {
  const text = { stdout: '', stderr: '' };
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const times = { stdout: [] as number[], stderr: [] as number[] };
  const partial = { stdout: '', stderr: '' };
  const waiters = new Set<Waiter>();
  let ended: ProcessExit | undefined;
  let failEnded: (() => void)[] = [];

  const onData = (stream: 'stdout' | 'stderr', chunk: string): void => {
    text[stream] += chunk;
    const parts = (partial[stream] + chunk).split('\n');
    partial[stream] = parts.pop() ?? '';
    const now = performance.now();
    for (const line of parts) {
      lines[stream].push(line);
      times[stream].push(now);
      const index = lines[stream].length - 1;
      for (const waiter of waiters) {
        if (waiter.stream === stream && index >= waiter.from && waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => onData('stdout', chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => onData('stderr', chunk));

  const exit = new Promise<ProcessExit>((resolve) => {
    const finish = (result: ProcessExit): void => {
      if (ended !== undefined) return;
      // A last line without a newline still counts.
      for (const stream of ['stdout', 'stderr'] as const) {
        if (partial[stream] !== '') onData(stream, '\n');
      }
      ended = result;
      resolve(result);
      for (const fail of failEnded) fail();
      failEnded = [];
    };
    child.once('close', (code, signal) => finish({ code, signal }));
    // Spawning itself failed (e.g. missing file): no 'close' may follow.
    child.once('error', (error) => {
      text.stderr += `spawn error: ${error.message}\n`;
      finish({ code: null, signal: null });
    });
  });

  const describe = (): string =>
    `${what}\n--- stdout ---\n${tail(lines.stdout)}\n--- stderr ---\n${tail(lines.stderr)}`;

  const waitForLine = (
    predicate: (line: string) => boolean,
    options: WaitForLineOptions = {},
  ): Promise<string> => {
    const { timeoutMs = 30_000, from = 0, stream = 'stdout' } = options;
    const seen = lines[stream].slice(from).find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
        failEnded = failEnded.filter((f) => f !== onEnd);
      };
      const waiter: Waiter = {
        stream,
        from,
        predicate,
        resolve: (line) => {
          cleanup();
          resolve(line);
        },
      };
      const onEnd = (): void => {
        cleanup();
        reject(
          new Error(
            `process ended (${JSON.stringify(ended)}) before the line arrived: ${describe()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching ${stream} line within ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      if (ended !== undefined) {
        onEnd();
        return;
      }
      waiters.add(waiter);
      failEnded.push(onEnd);
    });
  };

  const stop = async (
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 10_000,
  ): Promise<ProcessExit> => {
    if (ended !== undefined) return ended;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([exit, killed]);
    clearTimeout(timer);
    return exit;
  };

  return {
    child,
    get lines() {
      return lines.stdout;
    },
    lineTimes: times.stdout,
    stderrLineTimes: times.stderr,
    get stderrLines() {
      return lines.stderr;
    },
    get stdout() {
      return text.stdout;
    },
    get stderr() {
      return text.stderr;
    },
    exit,
    waitForLine,
    stop,
    async [Symbol.asyncDispose]() {
      await stop('SIGTERM', 5_000);
    },
  };
}

/** Runs the `pg-static-cache` bin with `args`; the environment is the test's plus `env`. */
export function spawnCli(
  args: readonly string[],
  options: { env?: ChildEnv } = {},
): SpawnedProcess {
  const child = spawn(CLI_BIN, [...args], {
    cwd: repoRoot,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(child, `pg-static-cache ${args.join(' ')}`);
}

/** Runs `node --import tsx <file> ...args` as one process (no `npx tsx` wrapper to leave behind). */
export function spawnNode(
  file: string,
  args: readonly string[] = [],
  env: ChildEnv = {},
): SpawnedProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(child, `node --import tsx ${file} ${args.join(' ')}`);
}

/** Output of a finished run. */
export interface CliRun extends ProcessExit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the bin to completion (killed after `timeoutMs`) and returns its exit and output. */
export async function runCli(
  args: readonly string[],
  options: { env?: ChildEnv; timeoutMs?: number } = {},
): Promise<CliRun> {
  const proc = spawnCli(args, options.env === undefined ? {} : { env: options.env });
  return runToEnd(proc, `pg-static-cache ${args.join(' ')}`, options.timeoutMs);
}

/** Any command (npm, node, tsc) in `cwd`; the environment is the test's plus `env`. */
export function spawnCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: ChildEnv },
): SpawnedProcess {
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(child, `${command} ${args.join(' ')}`);
}

/** Runs a command to completion (killed after `timeoutMs`) and returns its exit and output. */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: ChildEnv; timeoutMs?: number },
): Promise<CliRun> {
  const proc = spawnCommand(command, args, options);
  return runToEnd(proc, `${command} ${args.join(' ')}`, options.timeoutMs);
}

async function runToEnd(
  spawned: SpawnedProcess,
  what: string,
  timeoutMs = 30_000,
): Promise<CliRun> {
  await using proc = spawned;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([proc.exit, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') throw new Error(`${what} did not exit in time; stderr: ${proc.stderr}`);
  return { ...result, stdout: proc.stdout, stderr: proc.stderr };
}

// A subscriber under test, run as its own process: its report lines are collected with the time
// they arrived, and the driver waits on them with deadlines.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseLine, type ReportLine } from './protocol.ts';
import { stopChild } from './stop-child.ts';

/** How to start one system's subscriber. */
export interface SubscriberCommand {
  /** Short name used in tables and JSON: `sequel`, `ours` or `ours-bridged`. */
  readonly system: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Working folder: the repository root, where `--import tsx` resolves. */
  readonly cwd: string;
  /** It follows a bridge's messages: a bridge process must lead before it starts. @default false */
  readonly bridged?: boolean;
}

/** Variables the driver sets for a subscriber (DATABASE_URL, REDIS_URL, PSC_BENCH_GATE). */
export type SubscriberEnv = Readonly<Record<string, string>>;

interface Waiter {
  readonly match: (line: ReportLine) => boolean;
  readonly resolve: (line: ReportLine | undefined) => void;
  readonly reject: (error: Error) => void;
}

const READY_TIMEOUT_MS = 60_000;

/** A running subscriber process and every report line it printed so far. */
export class SubscriberProcess {
  readonly system: string;
  readonly lines: ReportLine[] = [];
  /** `performance.now()` in the driver when the process was spawned. */
  readonly spawnedAt = performance.now();
  readonly #child: ChildProcess;
  readonly #waiters = new Set<Waiter>();
  #exit: Error | undefined;

  private constructor(command: SubscriberCommand, env: SubscriberEnv) {
    this.system = command.system;
    this.#child = spawn(command.command, command.args, {
      cwd: command.cwd,
      env: { ...process.env, ...env },
      // stdin is the gate (see subscriber-runner.ts); unused otherwise.
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    // A gate opened after the process died must not crash the driver with EPIPE.
    this.#child.stdin?.on('error', () => undefined);
    const stdout = this.#child.stdout;
    if (stdout === null) throw new Error('subscriber stdout is not a pipe');
    createInterface({ input: stdout }).on('line', (text) => {
      const line = parseLine(text, performance.now());
      if (line === undefined) return;
      this.lines.push(line);
      for (const waiter of this.#waiters) {
        if (!waiter.match(line)) continue;
        this.#waiters.delete(waiter);
        waiter.resolve(line);
      }
    });
    const failed = (error: Error): void => {
      this.#exit = error;
      for (const waiter of this.#waiters) waiter.reject(error);
      this.#waiters.clear();
    };
    this.#child.on('error', failed);
    this.#child.on('exit', (code, signal) => {
      failed(new Error(`${this.system} subscriber exited (${signal ?? `code ${code}`})`));
    });
  }

  /** Starts the process without waiting for it (see {@link ready}); the caller must stop it. */
  static spawn(command: SubscriberCommand, env: SubscriberEnv): SubscriberProcess {
    return new SubscriberProcess(command, env);
  }

  /** Starts the process and resolves once it printed `ready`. */
  static async start(command: SubscriberCommand, env: SubscriberEnv): Promise<SubscriberProcess> {
    const subscriber = new SubscriberProcess(command, env);
    try {
      await subscriber.ready();
      return subscriber;
    } catch (error) {
      await subscriber.stop();
      throw error;
    }
  }

  /** Resolves once the process printed `kind` (`ready` unless told), rejects after a minute. */
  async ready(kind: 'armed' | 'ready' = 'ready'): Promise<void> {
    const line = await this.waitFor((l) => l.kind === kind, 0, READY_TIMEOUT_MS);
    if (line === undefined) throw new Error(`${this.system} subscriber never printed ${kind}`);
  }

  /** Opens the gate of a process started with PSC_BENCH_GATE=stdin: it starts its subscriber. */
  go(): void {
    this.#child.stdin?.end('go\n');
  }

  /** The process id (undefined if it never started): the driver reads its VmRSS from /proc. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Reloads reported so far. */
  get reloads(): number {
    return this.lines.at(-1)?.count ?? 0;
  }

  /**
   * The first line from index `from` on that matches, or undefined after `timeoutMs`.
   * Rejects if the process exits first: a dead subscriber is an error, not a slow one.
   */
  waitFor(
    match: (line: ReportLine) => boolean,
    from: number,
    timeoutMs: number,
  ): Promise<ReportLine | undefined> {
    const found = this.lines.slice(from).find(match);
    if (found !== undefined) return Promise.resolve(found);
    if (this.#exit !== undefined) return Promise.reject(this.#exit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited in time. Safe twice. */
  async stop(): Promise<void> {
    await stopChild(this.#child);
  }
}

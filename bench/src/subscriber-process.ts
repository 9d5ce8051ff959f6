// A subscriber under test, run as its own process: its report lines are collected with the time
// they arrived, and the driver waits on them with deadlines.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseLine, type ReportLine } from './protocol.ts';

/** How to start one system's subscriber. */
export interface SubscriberCommand {
  /** Short name used in tables and JSON: `sequel` or `ours`. */
  readonly system: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Working folder: the repository root, where `--import tsx` resolves. */
  readonly cwd: string;
}

interface Waiter {
  readonly match: (line: ReportLine) => boolean;
  readonly resolve: (line: ReportLine | undefined) => void;
  readonly reject: (error: Error) => void;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

/** A running subscriber process and every report line it printed so far. */
export class SubscriberProcess {
  readonly system: string;
  readonly lines: ReportLine[] = [];
  readonly #child: ChildProcess;
  readonly #waiters = new Set<Waiter>();
  #exit: Error | undefined;

  private constructor(command: SubscriberCommand, env: NodeJS.ProcessEnv) {
    this.system = command.system;
    this.#child = spawn(command.command, command.args, {
      cwd: command.cwd,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
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

  /** Starts the process and resolves once it printed `ready`. */
  static async start(command: SubscriberCommand, databaseUrl: string): Promise<SubscriberProcess> {
    const subscriber = new SubscriberProcess(command, {
      ...process.env,
      DATABASE_URL: databaseUrl,
    });
    try {
      const ready = await subscriber.waitFor((line) => line.kind === 'ready', 0, READY_TIMEOUT_MS);
      if (ready === undefined) throw new Error(`${command.system} subscriber never became ready`);
      return subscriber;
    } catch (error) {
      await subscriber.stop();
      throw error;
    }
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
    const child = this.#child;
    // No pid: it never started (spawn failed), so there is nothing to wait for.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

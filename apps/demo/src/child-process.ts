// One `node --import tsx <script>` child of the demo (an app process or a bridge): its output line
// by line, how it ended, and a stop with a deadline.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root: `--import tsx` resolves from the working directory, so children run here. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const TAIL_LINES = 20;

/** How a child ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Typed events of {@link TsxChild}. */
export interface TsxChildEvents {
  stdout: [string];
  stderr: [string];
  exit: [ChildExit];
}

/** A running `node --import tsx` process; stdin stays open (app processes exit when it closes). */
export class TsxChild extends EventEmitter<TsxChildEvents> {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #tail: string[] = [];
  #exit: ChildExit | undefined;

  /** Starts `script` (a path from the repository root, or absolute) with `env` as its whole environment. */
  constructor(script: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    super();
    this.#child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A child that died already makes writes to its stdin fail; `exit` reports it instead.
    this.#child.stdin.on('error', () => undefined);
    createInterface({ input: this.#child.stdout }).on('line', (text) => this.emit('stdout', text));
    createInterface({ input: this.#child.stderr }).on('line', (text) => {
      this.note(text);
      this.emit('stderr', text);
    });
    this.#child.on('exit', (code, signal) => {
      this.#exit = { code, signal };
      this.emit('exit', this.#exit);
    });
  }

  /** The OS process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How the process ended, or undefined while it runs. */
  get exited(): ChildExit | undefined {
    return this.#exit;
  }

  /** The last lines of stderr (and of anything else noted), for error messages. */
  get tail(): readonly string[] {
    return this.#tail;
  }

  /** Keeps a line for {@link tail}, e.g. stdout that is not protocol. */
  note(text: string): void {
    this.#tail.push(text);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  /** Writes to the child's stdin. */
  write(text: string): void {
    this.#child.stdin.write(text);
  }

  /** Sends `signal` if the process still runs. */
  kill(signal: NodeJS.Signals): void {
    if (this.#exit === undefined) this.#child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited by the deadline. Resolves with how it ended. */
  async stop(deadlineMs: number): Promise<ChildExit> {
    if (this.#exit !== undefined) return this.#exit;
    const gone = new Promise<ChildExit>((resolve) => this.once('exit', resolve));
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), deadlineMs);
    try {
      return await gone;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `code 0`, `SIGKILL`, …: how it ended, for messages. */
  describeExit(): string {
    return this.#exit?.signal ?? `code ${String(this.#exit?.code)}`;
  }
}

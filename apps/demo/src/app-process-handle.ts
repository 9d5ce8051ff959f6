// The driver's side of one app process: spawns it, parses its JSON lines, and waits on them.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  parseAppLine,
  type AppLine,
  type AppProcessOptions,
  type ReloadLine,
  type StaleLine,
  type StateLine,
} from './app-events.ts';

const APP_SCRIPT = fileURLToPath(new URL('./app-process.ts', import.meta.url));
// `--import tsx` resolves from the working directory: run children from the repository root.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STDERR_LINES = 20;

/** Typed events of {@link AppProcess}. */
export interface AppProcessEvents {
  line: [AppLine];
  exit: [{ readonly code: number | null; readonly signal: NodeJS.Signals | null }];
}

/** The latest version of one table an app reported, from its reload and stale lines. */
export interface ServedTable {
  readonly version: number;
  readonly digest: string | undefined;
  readonly rows: number;
  readonly stale: boolean;
}

/** One running app process and everything it said. */
export class AppProcess extends EventEmitter<AppProcessEvents> {
  readonly name: string;
  /** Every protocol line, in order; a step remembers `lines.length` to look at what came after. */
  readonly lines: AppLine[] = [];
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #served = new Map<string, ServedTable>();
  readonly #stderr: string[] = [];
  #exit: AppProcessEvents['exit'][0] | undefined;

  constructor(options: AppProcessOptions) {
    super();
    this.name = options.name;
    const args = [
      ...['--import', 'tsx', APP_SCRIPT],
      ...['--name', options.name, '--mode', options.mode, '--schema', options.schema],
      ...options.tables.flatMap((table) => ['--table', table]),
      ...['--channel', options.channel, '--backoff-cap-ms', String(options.backoffCapMs)],
    ];
    this.#child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: options.databaseUrl },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A child that died already makes writes to its stdin fail; `exit` reports it instead.
    this.#child.stdin.on('error', () => undefined);
    createInterface({ input: this.#child.stdout }).on('line', (text) => this.#onLine(text));
    createInterface({ input: this.#child.stderr }).on('line', (text) => {
      this.#stderr.push(text);
      if (this.#stderr.length > STDERR_LINES) this.#stderr.shift();
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
  get exited(): AppProcessEvents['exit'][0] | undefined {
    return this.#exit;
  }

  /** The last lines it wrote to stderr, for error messages. */
  get stderrTail(): readonly string[] {
    return this.#stderr;
  }

  /** What the app last reported for `table`. */
  served(table: string): ServedTable | undefined {
    return this.#served.get(table);
  }

  /** Lines since position `mark` of {@link lines}. */
  since(mark: number): AppLine[] {
    return this.lines.slice(mark);
  }

  /** Reload lines for `table` since `mark`. */
  reloadsSince(mark: number, table: string): ReloadLine[] {
    return this.since(mark).filter(
      (line): line is ReloadLine => line.event === 'reload' && line.table === table,
    );
  }

  /** Stale lines for `table` since `mark`. */
  staleSince(mark: number, table: string): StaleLine[] {
    return this.since(mark).filter(
      (line): line is StaleLine => line.event === 'stale' && line.table === table,
    );
  }

  /** Resolves once `check` holds (re-checked on every line); rejects at the deadline or if the process exits. */
  waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onLine = (): void => {
        if (check()) finish();
      };
      const onExit = (): void => finish(new Error(`${this.name} ${this.#describeExit()}`));
      const timer = setTimeout(
        () => finish(new Error(`${this.name}: no ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.off('line', onLine);
        this.off('exit', onExit);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.on('line', onLine);
      this.on('exit', onExit);
      if (this.#exit !== undefined) onExit();
      else onLine();
    });
  }

  /** Asks the app what every cache serves right now. */
  async state(timeoutMs: number): Promise<StateLine> {
    const mark = this.lines.length;
    const answered = (): StateLine | undefined =>
      this.since(mark).find((line): line is StateLine => line.event === 'state');
    this.#child.stdin.write('state\n');
    await this.waitFor('answer to "state"', () => answered() !== undefined, timeoutMs);
    return answered() as StateLine;
  }

  /** SIGTERM, then SIGKILL if it has not exited by the deadline. Resolves once it is gone. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.#exit !== undefined) return;
    const gone = new Promise<void>((resolve) => this.once('exit', () => resolve()));
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), deadlineMs);
    await gone;
    clearTimeout(timer);
  }

  #describeExit(): string {
    const how = this.#exit?.signal ?? `code ${String(this.#exit?.code)}`;
    const error = this.lines.find((line) => line.event === 'error');
    const detail = error?.event === 'error' ? error.message : this.#stderr.slice(-5).join(' | ');
    return `exited (${how})${detail === '' ? '' : `: ${detail}`}`;
  }

  #onLine(text: string): void {
    const line = parseAppLine(text);
    if (line === undefined) {
      this.#stderr.push(text);
      return;
    }
    if (line.event === 'reload') {
      this.#served.set(line.table, {
        version: line.version,
        digest: line.digest,
        rows: line.rows,
        stale: false,
      });
    } else if (line.event === 'stale') {
      const previous = this.#served.get(line.table);
      this.#served.set(line.table, {
        version: line.version,
        digest: previous?.digest,
        rows: line.rows,
        stale: true,
      });
    }
    this.lines.push(line);
    this.emit('line', line);
  }
}

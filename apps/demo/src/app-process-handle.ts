// The driver's side of one app process: spawns it, parses its JSON lines, and waits on them.
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  parseAppLine,
  type AppLine,
  type AppProcessOptions,
  type IdleLine,
  type ReloadLine,
  type StaleLine,
  type StateLine,
} from './app-events.ts';
import { TsxChild, type ChildExit } from './child-process.ts';
import { waitUntil } from './waiting.ts';

const APP_SCRIPT = fileURLToPath(new URL('./app-process.ts', import.meta.url));

/** Typed events of {@link AppProcess}. */
export interface AppProcessEvents {
  line: [AppLine];
  exit: [ChildExit];
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
  readonly #child: TsxChild;
  readonly #served = new Map<string, ServedTable>();

  constructor(options: AppProcessOptions) {
    super();
    this.name = options.name;
    const args = [
      ...['--name', options.name, '--mode', options.mode, '--schema', options.schema],
      ...options.tables.flatMap((table) => ['--table', table]),
      ...['--channel', options.channel, '--backoff-cap-ms', String(options.backoffCapMs)],
      ...['--namespace', options.namespace],
      ...['--heartbeat-timeout-ms', String(options.heartbeatTimeoutMs)],
      ...['--snapshot-wait-ms', String(options.snapshotWaitMs)],
    ];
    this.#child = new TsxChild(APP_SCRIPT, args, {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
    });
    this.#child.on('stdout', (text) => this.#onLine(text));
    this.#child.on('exit', (exit) => this.emit('exit', exit));
  }

  /** The OS process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How the process ended, or undefined while it runs. */
  get exited(): ChildExit | undefined {
    return this.#child.exited;
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

  /** Reload lines since `mark` that brought the rows with `digest` of `table`. */
  reloadsTo(mark: number, table: string, digest: string): ReloadLine[] {
    return this.reloadsSince(mark, table).filter((line) => line.digest === digest);
  }

  /** Stale lines for `table` since `mark`. */
  staleSince(mark: number, table: string): StaleLine[] {
    return this.since(mark).filter(
      (line): line is StaleLine => line.event === 'stale' && line.table === table,
    );
  }

  /** Resolves once `check` holds (re-checked on every line); rejects at the deadline or if the process exits. */
  waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    return waitUntil(
      `${this.name}: no ${what} within ${timeoutMs} ms`,
      check,
      timeoutMs,
      (recheck, fail) => {
        const onExit = (): void => fail(new Error(`${this.name} ${this.#describeExit()}`));
        this.on('line', recheck);
        this.on('exit', onExit);
        if (this.#child.exited !== undefined) onExit();
        return () => {
          this.off('line', recheck);
          this.off('exit', onExit);
        };
      },
    );
  }

  /** Asks the app what every cache serves right now. */
  state(timeoutMs: number): Promise<StateLine> {
    return this.#ask('state', (line): line is StateLine => line.event === 'state', timeoutMs);
  }

  /** Resolves once the app has no reload running (so every table query it began has ended). */
  async idle(timeoutMs: number): Promise<void> {
    await this.#ask('idle', (line): line is IdleLine => line.event === 'idle', timeoutMs);
  }

  async #ask<T extends AppLine>(
    request: string,
    isAnswer: (line: AppLine) => line is T,
    timeoutMs: number,
  ): Promise<T> {
    const mark = this.lines.length;
    const answered = (): T | undefined => this.since(mark).find(isAnswer);
    this.#child.write(`${request}\n`);
    await this.waitFor(`answer to "${request}"`, () => answered() !== undefined, timeoutMs);
    return answered() as T;
  }

  /** SIGTERM, then SIGKILL if it has not exited by the deadline. Resolves once it is gone. */
  async stop(deadlineMs: number): Promise<void> {
    await this.#child.stop(deadlineMs);
  }

  #describeExit(): string {
    const error = this.lines.find((line) => line.event === 'error');
    const detail =
      error?.event === 'error' ? error.message : this.#child.tail.slice(-5).join(' | ');
    return `exited (${this.#child.describeExit()})${detail === '' ? '' : `: ${detail}`}`;
  }

  #onLine(text: string): void {
    const line = parseAppLine(text);
    if (line === undefined) {
      this.#child.note(text);
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

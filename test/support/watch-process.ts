// `pg-static-cache watch --events` as the application process of cross-process tests, the program
// a user runs: its stdout versions and stderr events parsed into typed values, and a handle that
// waits for its first load and stops it. Free of vitest, so the bench reads watch's lines with it.
import { parseJsonLine, spawnCli, type SpawnedProcess } from './process.ts';

/** One stdout line of watch: `{"table","rows","digest","version","ms"}`. */
export interface VersionLine {
  readonly table: string;
  readonly rows: number;
  readonly digest: string;
  readonly version: number;
  readonly ms: number;
}

/** One stderr event of `watch --events`, as it printed it. */
export type WatchEvent =
  | {
      readonly event: 'reload';
      readonly table: string;
      readonly version: number;
      readonly rows: number;
      readonly digest: string;
      readonly reason: string;
      /** 'postgres' or 'snapshot' (where the rows came from). */
      readonly source: string;
      /** Snapshot mode: why Postgres was queried instead of the snapshot. */
      readonly fallback?: string;
      /** With --replica: who served the table query (replica, or lagging / unavailable: the primary). */
      readonly replica?: string;
      /** Snapshot mode: built from the worker's delta to the rows held. */
      readonly delta?: boolean;
    }
  /** A version is served, before its digest is computed (printed right before its stdout line). */
  | { readonly event: 'applied'; readonly table: string; readonly version: number }
  | { readonly event: 'stale'; readonly table: string; readonly error: string }
  | { readonly event: 'status'; readonly status: string }
  | { readonly event: 'warning'; readonly message: string };

type Fields = Readonly<Record<string, unknown>>;

function pick(fields: Fields, key: string, type: 'string' | 'number'): unknown {
  const value = fields[key];
  if (typeof value !== type) throw new Error(`no ${type} ${key}`);
  return value;
}
const str = (fields: Fields, key: string) => pick(fields, key, 'string') as string;
const num = (fields: Fields, key: string) => pick(fields, key, 'number') as number;

/** Parses a stdout line of watch; undefined for anything that breaks the contract. */
export function parseVersionLine(text: string): VersionLine | undefined {
  const fields = parseJsonLine(text);
  if (fields === undefined) return undefined;
  try {
    return {
      table: str(fields, 'table'),
      rows: num(fields, 'rows'),
      digest: str(fields, 'digest'),
      version: num(fields, 'version'),
      ms: num(fields, 'ms'),
    };
  } catch {
    return undefined;
  }
}

/** Parses a stderr line of `watch --events`; undefined for anything else (a one-line error). */
export function parseWatchEvent(text: string): WatchEvent | undefined {
  const fields = parseJsonLine(text);
  if (fields === undefined) return undefined;
  try {
    switch (fields['event']) {
      case 'reload': {
        const fallback = fields['fallback'];
        const replica = fields['replica'];
        return {
          event: 'reload',
          table: str(fields, 'table'),
          version: num(fields, 'version'),
          rows: num(fields, 'rows'),
          digest: str(fields, 'digest'),
          reason: str(fields, 'reason'),
          source: str(fields, 'source'),
          ...(fallback === undefined ? {} : { fallback: str(fields, 'fallback') }),
          ...(replica === undefined ? {} : { replica: str(fields, 'replica') }),
          ...(fields['delta'] === true ? { delta: true } : {}),
        };
      }
      case 'applied':
        return { event: 'applied', table: str(fields, 'table'), version: num(fields, 'version') };
      case 'stale':
        return { event: 'stale', table: str(fields, 'table'), error: str(fields, 'error') };
      case 'status':
        return { event: 'status', status: str(fields, 'status') };
      case 'warning':
        return { event: 'warning', message: str(fields, 'message') };
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** Tests wait on recoveries: retries at most 200 ms apart instead of the product's 5 s cap. */
export const TEST_BACKOFF_FLAGS: readonly string[] = Object.freeze([
  '--backoff-base-ms',
  '20',
  '--backoff-cap-ms',
  '200',
]);

/** What watch is told to cache and where. */
export interface WatchOptions {
  /** Database URL (with the test schema on its search_path). */
  readonly url: string;
  readonly tables: readonly string[];
  /** @default 'direct' */
  readonly mode?: 'direct' | 'redis' | 'snapshot';
  /** Direct mode: the NOTIFY channel. @default watch's default channel */
  readonly channel?: string;
  /** Redis and snapshot mode (required there): the Redis the bridge publishes to. */
  readonly redisUrl?: string;
  /** Redis and snapshot mode: the bridge's namespace. @default watch's default */
  readonly namespace?: string;
  /** More watch flags, e.g. `['--bridge-silence-ms', '2000']`. @default [] */
  readonly flags?: readonly string[];
  /** @default 30000 (a cold start on two busy cores takes a few seconds) */
  readonly readyTimeoutMs?: number;
}

/** A running watch process; disposing it kills it if it still runs. */
export interface WatchProcess extends AsyncDisposable {
  readonly pid: number;
  /** Every stderr event so far, in order. */
  readonly events: readonly WatchEvent[];
  /** Output lines that are neither versions (stdout) nor events (stderr). */
  readonly invalid: readonly string[];
  /**
   * The digest of the newest version of `table` watch reported: `table` as watch prints it
   * (`schema.name`) or as the test named it (`name`, found through the search_path).
   */
  digestOf(table: string): string | undefined;
  /** The subscriber status watch reported last (undefined before any). */
  lastStatus(): string | undefined;
  /** Everything watch wrote on stderr so far. */
  readonly stderr: string;
  /** SIGTERM, then the exit code; rejects if it had to be SIGKILLed after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>;
}

// The parsed view of a process's output, brought up to date on each read.
class WatchOutput {
  readonly events: WatchEvent[] = [];
  readonly invalid: string[] = [];
  readonly #proc: SpawnedProcess;
  #stdoutRead = 0;
  #stderrRead = 0;

  constructor(proc: SpawnedProcess) {
    this.#proc = proc;
  }

  update(): this {
    for (const text of this.#proc.lines.slice(this.#stdoutRead)) {
      if (parseVersionLine(text) === undefined) this.invalid.push(text);
    }
    this.#stdoutRead = this.#proc.lines.length;
    for (const text of this.#proc.stderrLines.slice(this.#stderrRead)) {
      const event = parseWatchEvent(text);
      if (event === undefined) this.invalid.push(text);
      else this.events.push(event);
    }
    this.#stderrRead = this.#proc.stderrLines.length;
    return this;
  }
}

/** Starts `watch --events` and resolves once every table is loaded; kills it if that fails. */
export async function startWatch(options: WatchOptions): Promise<WatchProcess> {
  const { mode = 'direct', channel, namespace, redisUrl } = options;
  const proc = spawnCli(
    [
      'watch',
      '--events',
      '--mode',
      mode,
      '--table',
      ...options.tables,
      ...(channel === undefined ? [] : ['--channel', channel]),
      ...(namespace === undefined ? [] : ['--namespace', namespace]),
      ...TEST_BACKOFF_FLAGS,
      ...(options.flags ?? []),
    ],
    {
      env: {
        DATABASE_URL: options.url,
        ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
      },
    },
  );
  const ready = (line: string): boolean => {
    const event = parseWatchEvent(line);
    return event?.event === 'status' && event.status === 'ready';
  };
  try {
    await proc.waitForLine(ready, {
      stream: 'stderr',
      timeoutMs: options.readyTimeoutMs ?? 30_000,
    });
  } catch (error) {
    await proc.stop('SIGKILL');
    throw error;
  }
  const output = new WatchOutput(proc);
  const newest = (table: string) =>
    output
      .update()
      .events.findLast(
        (e) => e.event === 'reload' && (e.table === table || e.table.endsWith(`.${table}`)),
      );
  return {
    pid: proc.child.pid ?? 0,
    get events() {
      return output.update().events;
    },
    get invalid() {
      return output.update().invalid;
    },
    digestOf: (table) => {
      const reload = newest(table);
      return reload?.event === 'reload' ? reload.digest : undefined;
    },
    lastStatus: () => {
      const status = output.update().events.findLast((e) => e.event === 'status');
      return status?.event === 'status' ? status.status : undefined;
    },
    get stderr() {
      return proc.stderr;
    },
    async stop(timeoutMs = 10_000) {
      const exit = await proc.stop('SIGTERM', timeoutMs);
      if (exit.signal === 'SIGKILL') {
        throw new Error(`watch ${proc.child.pid ?? '?'} ignored SIGTERM for ${timeoutMs} ms`);
      }
      return exit.code;
    },
    async [Symbol.asyncDispose]() {
      await proc.stop('SIGKILL');
    },
  };
}

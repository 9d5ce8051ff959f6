// The JSON-lines protocol between an app process (stdout) and the demo driver that reads it.

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one host. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/**
 * How an app process learns of changes and loads: `snapshot` follows the bridges' messages on
 * Redis and loads the snapshots their reload workers store there; `redis` follows the same
 * messages but queries Postgres itself; `direct` LISTENs to Postgres itself and queries it.
 */
export type AppMode = 'snapshot' | 'redis' | 'direct';

/** Modes the app process accepts; the first is the demo's default. */
export const APP_MODES: readonly AppMode[] = ['snapshot', 'redis', 'direct'];

/** Where a reload's rows came from: a table query, or a snapshot a reload worker stored in Redis. */
export type RowSource = 'postgres' | 'snapshot';

/** Settings of one app process: the demo passes them as flags and DATABASE_URL. */
export interface AppProcessOptions {
  readonly name: string;
  readonly mode: AppMode;
  /** URL the app logs in with (the demo's low-privilege role). */
  readonly databaseUrl: string;
  readonly schema: string;
  readonly tables: readonly string[];
  /** Direct mode: the NOTIFY channel to LISTEN on. */
  readonly channel: string;
  /** Redis and snapshot mode: where the bridges publish (and the workers store snapshots). */
  readonly redisUrl: string;
  /** Redis and snapshot mode: namespace of the events channel `<namespace>:events` and the snapshot keys. */
  readonly namespace: string;
  /** Redis and snapshot mode: bridge silence after which caches count as stale. */
  readonly heartbeatTimeoutMs: number;
  /** Snapshot mode: how long a cache waits for the worker's snapshot before it queries Postgres. */
  readonly snapshotWaitMs: number;
  /** Upper bound of the reload-retry and reconnect backoff. */
  readonly backoffCapMs: number;
}

/** A cache swapped in new rows. */
export interface ReloadLine {
  readonly event: 'reload';
  readonly table: string;
  readonly version: number;
  readonly rows: number;
  readonly digest: string;
  readonly ms: number;
  readonly reason: string;
  readonly source: RowSource;
  /** Snapshot mode, source `postgres`: why the snapshot was not used. */
  readonly fallback?: string;
  readonly at: number;
}

/** A reload failed; the cache keeps serving `rows` rows of `version`. */
export interface StaleLine {
  readonly event: 'stale';
  readonly table: string;
  readonly version: number;
  readonly rows: number;
  readonly error: string;
  readonly retryInMs: number;
  readonly at: number;
}

/** The subscriber's connection state changed. */
export interface StatusLine {
  readonly event: 'status';
  readonly status: string;
  readonly at: number;
}

/** Every cache loaded and changes are followed. */
export interface ReadyLine {
  readonly event: 'ready';
  readonly pid: number;
  readonly mode: string;
  readonly at: number;
}

/** What one cache serves right now. */
export interface CacheState {
  readonly version: number;
  readonly rows: number;
  readonly digest: string | null;
  readonly status: string;
}

/** Answer to a `state` request on stdin: every cache as served right now. */
export interface StateLine {
  readonly event: 'state';
  readonly tables: Readonly<Record<string, CacheState>>;
  readonly at: number;
}

/** Answer to an `idle` request: no reload is running (one may be asked for later, or retry). */
export interface IdleLine {
  readonly event: 'idle';
  readonly at: number;
}

/** Something the app could not do (start failed); the process exits after it. */
export interface ErrorLine {
  readonly event: 'error';
  readonly message: string;
  readonly at: number;
}

/** Any line an app process prints. */
export type AppLine =
  ReloadLine | StaleLine | StatusLine | ReadyLine | StateLine | IdleLine | ErrorLine;

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (o: Json, k: string): boolean => typeof o[k] === 'string';
const num = (o: Json, k: string): boolean => typeof o[k] === 'number' && Number.isFinite(o[k]);
const all = (o: Json, checks: readonly [(o: Json, k: string) => boolean, string][]): boolean =>
  checks.every(([check, key]) => check(o, key));

function isCacheState(value: unknown): value is CacheState {
  return (
    isRecord(value) &&
    all(value, [
      [num, 'version'],
      [num, 'rows'],
      [str, 'status'],
    ]) &&
    (value['digest'] === null || str(value, 'digest'))
  );
}

function valid(o: Json): boolean {
  if (!num(o, 'at')) return false;
  switch (o['event']) {
    case 'reload':
      return (
        all(o, [
          [str, 'table'],
          [num, 'version'],
          [num, 'rows'],
          [str, 'digest'],
          [num, 'ms'],
          [str, 'reason'],
        ]) &&
        (o['source'] === 'postgres' || o['source'] === 'snapshot') &&
        (o['fallback'] === undefined || str(o, 'fallback'))
      );
    case 'stale':
      return all(o, [
        [str, 'table'],
        [num, 'version'],
        [num, 'rows'],
        [str, 'error'],
        [num, 'retryInMs'],
      ]);
    case 'status':
      return str(o, 'status');
    case 'ready':
      return all(o, [
        [num, 'pid'],
        [str, 'mode'],
      ]);
    case 'state':
      return isRecord(o['tables']) && Object.values(o['tables']).every(isCacheState);
    case 'idle':
      return true;
    case 'error':
      return str(o, 'message');
    default:
      return false;
  }
}

/** Parses one stdout line of an app process; undefined for anything that is not a protocol line. */
export function parseAppLine(line: string): AppLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isRecord(value) && valid(value) ? (value as unknown as AppLine) : undefined;
}

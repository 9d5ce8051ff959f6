// What `status` reads and how it judges it; loaded only when `status` runs (see status.ts).
import { readQueueState, type QueueState } from '@pg-static-cache/bridge';
import { checkTriggers, type TriggerReport } from '@pg-static-cache/postgres';
import {
  namesFor,
  parseLease,
  parsePresenceEntry,
  type BridgeRole,
  type Names,
} from '@pg-static-cache/protocol';
import {
  hasDatabase,
  loadDatabaseConfig,
  loadRedisConfig,
  triggerOptions,
  type CliEnv,
  type GlobalFlags,
  type NamingFlags,
} from '../config.ts';
import { withClient } from '../database.ts';
import { RedisSession, type RedisClient } from '../redis.ts';

/** The flags of `status`. */
export interface StatusFlags extends GlobalFlags, NamingFlags {
  /** Else PSC_NAMESPACE, else `psc`. */
  readonly namespace?: string;
  readonly json?: boolean;
}

/** The leader as its lease in Redis says (absent once the lease expired or was released). */
export interface LeaderStatus {
  readonly bridge: string;
  readonly epoch: number;
  readonly backendPid: number;
  /** ms since the Unix epoch at the last renewal. */
  readonly renewedAt: number;
  readonly leaseAgeMs: number;
}

/** One running bridge, from the presence hash. */
export interface BridgeStatus {
  readonly bridge: string;
  readonly role: BridgeRole;
  /** The leader's epoch; null for standbys. */
  readonly epoch: number | null;
  readonly pid: number;
  readonly host: string;
  readonly lastSeenAt: number;
  readonly ageMs: number;
}

/** What the latest leader recorded in the status hash; times in ms since the Unix epoch. */
export interface TermStatus {
  readonly bridge: string | null;
  readonly epoch: number | null;
  readonly leaderSince: number | null;
  readonly lastHeartbeatAt: number | null;
  readonly heartbeatAgeMs: number | null;
  /** How often the leader publishes a heartbeat, as it recorded. */
  readonly heartbeatMs: number | null;
  readonly lastResyncAt: number | null;
  readonly lastResyncReason: string | null;
  /** Last scheduled trigger check and drift digest; null before the first. */
  readonly lastCheckAt: number | null;
  /** Tables whose content drifted in that check. */
  readonly lastDrifted: number | null;
}

/** One watched table's trigger: the live check when Postgres was reachable, else as recorded. */
export interface TableStatus {
  readonly table: string;
  readonly state: string;
  readonly ok: boolean;
  /** Drift in the last scheduled check, when the bridge records it per table; else null. */
  readonly drifted: boolean | null;
  /** Version of the table's snapshot in Redis (snapshot mode); null when none is stored. */
  readonly snapshotVersion?: number | null;
}

/** One region besides home (`bridge --region`), as the leader recorded it with its last heartbeat. */
export interface RegionStatus {
  readonly region: string;
  /** `idle` (nothing sent yet), `ok` or `failing`; another word when a newer bridge wrote it. */
  readonly state: string;
  /** When a message last reached the region; null before the first. */
  readonly lastPublishAt: number | null;
  /** Since when publishes to it fail; null unless failing. */
  readonly failingSince: number | null;
  /** Why they fail (Redis' own first line); null unless failing. */
  readonly reason: string | null;
  /** Messages waiting in the leader's buffer for it. */
  readonly queued: number | null;
  /** Whether its clients are owed a resync (it goes out with the next message that gets through). */
  readonly owesResync: boolean;
}

/** The whole `status --json` document. */
export interface StatusReport {
  readonly namespace: string;
  /** Nothing in `problems` (exit code 0). */
  readonly ok: boolean;
  /**
   * What is wrong, one line each: no leader, heartbeats no longer published (publishes failing),
   * tables without a working trigger, a paused reload queue, each region whose publishes fail.
   */
  readonly problems: readonly string[];
  /** When this report was taken, ms since the Unix epoch. */
  readonly at: number;
  readonly leader: LeaderStatus | null;
  readonly bridges: readonly BridgeStatus[];
  readonly term: TermStatus | null;
  /** Where the table states come from: `live` (checkTriggers now) or `recorded` (by the leader). */
  readonly triggers: 'live' | 'recorded';
  readonly tables: readonly TableStatus[];
  /** The reload queue; null when it was not read (unit tests). */
  readonly queue: QueueState | null;
  /** The regions besides home, as the leader recorded them; empty without regions. */
  readonly regions: readonly RegionStatus[];
}

/** What Redis holds for a namespace, before evaluation. */
export interface RedisState {
  readonly lease: string | null;
  readonly bridges: Readonly<Record<string, string>>;
  readonly status: Readonly<Record<string, string>>;
}

/** Reads the lease, the presence hash and the status hash (read-only; no lock, no message). */
export async function readRedisState(redis: RedisClient, names: Names): Promise<RedisState> {
  const [lease, bridges, status] = await Promise.all([
    redis.get(names.leader),
    redis.hgetall(names.bridges),
    redis.hgetall(names.status),
  ]);
  return { lease, bridges, status };
}

// Redis is untrusted input: anything malformed reads as absent rather than failing the report.
function numberOf(value: unknown): number | null {
  const n = typeof value === 'string' && value !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

function stringOf(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

const age = (now: number, at: number | null): number | null =>
  at === null ? null : Math.max(0, now - at);

function bridgeStatus(id: string, text: string, now: number): BridgeStatus | undefined {
  const entry = parsePresenceEntry(text);
  if (entry === undefined) return undefined;
  const { role, epoch, pid, host, lastSeenAt } = entry;
  return {
    bridge: id,
    role,
    epoch: epoch ?? null,
    pid,
    host,
    lastSeenAt,
    ageMs: Math.max(0, now - lastSeenAt),
  };
}

function termStatus(hash: Readonly<Record<string, string>>, now: number): TermStatus | null {
  if (Object.keys(hash).length === 0) return null;
  const lastHeartbeatAt = numberOf(hash['lastHeartbeatAt']);
  return {
    bridge: stringOf(hash['bridge']),
    epoch: numberOf(hash['epoch']),
    leaderSince: numberOf(hash['leaderSince']),
    lastHeartbeatAt,
    heartbeatAgeMs: age(now, lastHeartbeatAt),
    heartbeatMs: numberOf(hash['heartbeatMs']),
    lastResyncAt: numberOf(hash['lastResyncAt']),
    lastResyncReason: stringOf(hash['lastResyncReason']),
    lastCheckAt: numberOf(hash['lastCheckAt']),
    lastDrifted: numberOf(hash['lastDrifted']),
  };
}

// A JSON array of objects in the status hash; anything else (or a malformed item) reads as absent.
function recordedObjects(
  hash: Readonly<Record<string, string>>,
  field: string,
): Record<string, unknown>[] {
  let value: unknown;
  try {
    value = JSON.parse(hash[field] ?? '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return (value as unknown[]).filter(
    (item): item is Record<string, unknown> => typeof item === 'object' && item !== null,
  );
}

/** The tables the leader recorded (`tables` field: JSON [{table, state, ok, drifted?}]). */
export function recordedTables(hash: Readonly<Record<string, string>>): TableStatus[] {
  return recordedObjects(hash, 'tables').flatMap((entry) => {
    const table = stringOf(entry['table']);
    const state = stringOf(entry['state']);
    if (table === null || state === null) return [];
    const drifted = typeof entry['drifted'] === 'boolean' ? entry['drifted'] : null;
    return [{ table, state, ok: entry['ok'] === true, drifted }];
  });
}

/** The regions the leader recorded (`regions` field: JSON [{region, state, lastPublishAt, ...}]). */
export function recordedRegions(hash: Readonly<Record<string, string>>): RegionStatus[] {
  return recordedObjects(hash, 'regions').flatMap((entry) => {
    const region = stringOf(entry['region']);
    const state = stringOf(entry['state']);
    if (region === null || state === null) return [];
    return [
      {
        region,
        state,
        lastPublishAt: numberOf(entry['lastPublishAt']),
        failingSince: numberOf(entry['failingSince']),
        reason: stringOf(entry['reason']),
        queued: numberOf(entry['queued']),
        owesResync: entry['owesResync'] === true,
      },
    ];
  });
}

/** `region b: publishes failing for 12 s (reason), 3 queued, resync owed`. */
function regionProblem(region: RegionStatus, now: number): string {
  const failingMs = age(now, region.failingSince);
  const since = failingMs === null ? '' : ` for ${Math.round(failingMs / 1000)} s`;
  const reason = region.reason === null ? '' : ` (${region.reason})`;
  const queued = region.queued === null ? '' : `, ${region.queued} queued`;
  const owed = region.owesResync ? ', resync owed' : '';
  return `region ${region.region}: publishes failing${since}${reason}${queued}${owed}`;
}

/** Trigger naming for the live check: flags win, else what the leader recorded, else defaults. */
export function namingOf(flags: NamingFlags, hash: Readonly<Record<string, string>>): NamingFlags {
  const channel = flags.channel ?? stringOf(hash['channel']) ?? undefined;
  const functionName = flags.functionName ?? stringOf(hash['functionName']) ?? undefined;
  const triggerName = flags.triggerName ?? stringOf(hash['triggerName']) ?? undefined;
  return {
    ...(channel === undefined ? {} : { channel }),
    ...(functionName === undefined ? {} : { functionName }),
    ...(triggerName === undefined ? {} : { triggerName }),
  };
}

/**
 * Replaces the recorded trigger states by a live check of every table carrying the trigger. A
 * recorded table the check no longer finds has lost its trigger: `missing`. Without any recorded
 * table (no leader yet), the live check's tables are the list.
 */
export function withLiveTriggers(
  recorded: readonly TableStatus[],
  live: readonly TriggerReport[],
): TableStatus[] {
  if (recorded.length === 0) {
    return live.map((r) => ({ table: r.table, state: r.state, ok: r.ok, drifted: null }));
  }
  const byName = new Map(live.map((r) => [r.table, r]));
  return recorded.map((t) => {
    const report = byName.get(t.table);
    return report === undefined
      ? { ...t, state: 'missing', ok: false }
      : { ...t, state: report.state, ok: report.ok };
  });
}

// Heartbeats go out every heartbeatMs with the leader's status update: a record this old means
// its publishes fail (Redis refusing writes, a stuck leader). Never under 10 s, so clock skew
// between the leader's host and this one does not raise a false alarm.
const STALE_HEARTBEATS = 3;
const MIN_STALE_MS = 10_000;

function problemsOf(
  leader: LeaderStatus | null,
  term: TermStatus | null,
  tables: readonly TableStatus[],
  queue: QueueState | null,
  regions: readonly RegionStatus[],
  now: number,
): string[] {
  const problems: string[] = [];
  if (leader === null) problems.push('no leader holds the lease');
  const every = term?.heartbeatMs ?? null;
  const quiet = term?.heartbeatAgeMs ?? null;
  if (leader !== null && every !== null && quiet !== null) {
    if (quiet > Math.max(STALE_HEARTBEATS * every, MIN_STALE_MS)) {
      const seconds = Math.round(quiet / 1000);
      problems.push(
        `no heartbeat published for ${seconds} s (every ${every} ms expected): publishes failing`,
      );
    }
  }
  const bad = tables.filter((t) => !t.ok).length;
  if (bad > 0) problems.push(`${bad} table${bad === 1 ? '' : 's'} without a working trigger`);
  if (queue?.paused === true) {
    problems.push('the reload queue is paused: no snapshot is stored until it is resumed');
  }
  for (const region of regions) {
    if (region.state === 'failing') problems.push(regionProblem(region, now));
  }
  return problems;
}

/** Evaluates what Redis holds (and the live table states, when known) into the report. */
export function buildStatusReport(
  names: Names,
  state: RedisState,
  tables: { readonly source: 'live' | 'recorded'; readonly list: readonly TableStatus[] },
  now = Date.now(),
  queue: QueueState | null = null,
): StatusReport {
  const lease = parseLease(state.lease);
  const leader =
    lease === undefined ? null : { ...lease, leaseAgeMs: Math.max(0, now - lease.renewedAt) };
  const bridges = Object.entries(state.bridges)
    .map(([id, text]) => bridgeStatus(id, text, now))
    .filter((b): b is BridgeStatus => b !== undefined)
    .sort((a, b) => a.bridge.localeCompare(b.bridge));
  const term = termStatus(state.status, now);
  const regions = recordedRegions(state.status);
  const problems = problemsOf(leader, term, tables.list, queue, regions, now);
  return {
    namespace: names.namespace,
    ok: problems.length === 0,
    problems,
    at: now,
    leader,
    bridges,
    term,
    triggers: tables.source,
    tables: tables.list,
    queue,
    regions,
  };
}

/** The stored snapshot version of each table (null when none), read in one round trip. */
export async function withSnapshotVersions(
  redis: RedisClient,
  names: Names,
  tables: readonly TableStatus[],
): Promise<TableStatus[]> {
  if (tables.length === 0) return [];
  const versions = await redis.mget(...tables.map((t) => names.snapshotKeys(t.table).stored));
  return tables.map((t, i) => ({ ...t, snapshotVersion: numberOf(versions[i]) }));
}

/** Reads Redis (and, with a database URL, checks the triggers live) into the report. */
export async function loadStatus(flags: StatusFlags, env: CliEnv): Promise<StatusReport> {
  // The namespace a bridge of the same environment uses (one configuration).
  const fromEnv = env['PSC_NAMESPACE'];
  const namespace = flags.namespace ?? (fromEnv === undefined || fromEnv === '' ? 'psc' : fromEnv);
  const redisConfig = loadRedisConfig(flags, env);
  const names = namesFor(namespace, redisConfig.endpoint.layout);
  const database = hasDatabase(flags, env) ? loadDatabaseConfig(flags, env) : undefined;
  await using session = await RedisSession.open(redisConfig);
  const state = await readRedisState(session.redis, names);
  const recorded = recordedTables(state.status);
  let source: 'live' | 'recorded' = 'recorded';
  let list = recorded;
  if (database !== undefined) {
    const options = triggerOptions(namingOf(flags, state.status));
    const live = await withClient(database, (client) => checkTriggers(client, options));
    source = 'live';
    list = withLiveTriggers(recorded, live);
  }
  const tables = await withSnapshotVersions(session.redis, names, list);
  const queue = await readQueueState(session.redis, names);
  return buildStatusReport(names, state, { source, list: tables }, Date.now(), queue);
}

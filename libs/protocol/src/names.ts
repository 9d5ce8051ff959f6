import { ProtocolError } from './errors.ts';

/**
 * The Redis keys of one table's snapshot. The prefixes `snapshot:`, `snapshot-version:`,
 * `snapshot-stored:` and `snapshot-generation:` differ before the table name, so no table name can
 * make one key equal another table's; all four start with `<namespace>:snapshot`, which is the
 * pattern a least-privilege worker user is granted (deploy/redis-users.acl).
 */
export interface SnapshotKeys {
  /** String: the snapshot JSON (see `serializeSnapshot`), what clients read. */
  readonly snapshot: string;
  /** String counter: every INCR hands out a new version to a job about to query the table. */
  readonly counter: string;
  /** String: version of the snapshot now stored, so a compare-and-set need not parse the JSON. */
  readonly stored: string;
  /** String: random id of the counter's life, replaced whenever the counter starts again at 1. */
  readonly generation: string;
}

/**
 * Every Redis channel, key and queue one deployment uses, derived from its namespace. This is the
 * one place their names are formed; what each holds is documented on its field.
 */
export interface Names {
  readonly namespace: string;
  /**
   * Where the names live: `cluster` puts every key and channel in one hash slot (`{<ns>}:…`) and
   * uses sharded pub/sub (SPUBLISH, SSUBSCRIBE), so scripts that touch the lease and publish, and
   * BullMQ's multi-key scripts, run on one node; `single` keeps the names below.
   */
  readonly layout: RedisLayout;
  /** Pub/sub channel `<ns>:events`: invalidate, resync, heartbeat and snapshot messages. */
  readonly events: string;
  /** Pub/sub channel `<ns>:control`: resync-request / resync-done (see `parseControlMessage`). */
  readonly control: string;
  /** String `<ns>:leader`, the leader lease with a TTL (see `parseLease`, `serializeLease`). */
  readonly leader: string;
  /** String counter `<ns>:epoch`: every increment is a new leader epoch. */
  readonly epoch: string;
  /** Hash `<ns>:status` the leader keeps up to date for `pg-static-cache status`. */
  readonly status: string;
  /** Hash `<ns>:bridges`: field bridge id, value a presence entry (see `parsePresenceEntry`). */
  readonly bridges: string;
  /** BullMQ queue name `<ns>-reload` of reload jobs (BullMQ adds {@link queuePrefix}). */
  readonly queue: string;
  /** BullMQ's key prefix: its default `bull`, or `{<ns>}:bull` in a cluster. */
  readonly queuePrefix: string;
  /** Key `<ns>:snapshot:<schema.table>` of one table's snapshot: `snapshotKeys(table).snapshot`. */
  snapshot(table: string): string;
  /** Every key of one table's snapshot (`table` as `schema.name`). */
  snapshotKeys(table: string): SnapshotKeys;
}

/** How a Redis deployment is addressed: one server (or a primary with failover), or a Redis Cluster. */
export type RedisLayout = 'single' | 'cluster';

/** The namespace when none is given. */
export const DEFAULT_NAMESPACE = 'psc';

// Conservative on purpose: a namespace ends up in Redis keys, BullMQ queue names and log lines.
const NAMESPACE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Names under `namespace` (default `psc`): channel `psc:events`, queue `psc-reload`, …; in a
 * cluster, `{psc}:events`, … (see {@link Names.layout}).
 */
export function namesFor(
  namespace: string = DEFAULT_NAMESPACE,
  layout: RedisLayout = 'single',
): Names {
  if (!NAMESPACE.test(namespace)) {
    throw new ProtocolError(
      'INVALID_NAMESPACE',
      `invalid namespace ${JSON.stringify(namespace)}: use 1-64 letters, digits, '_' or '-'`,
    );
  }
  // A hash tag: Redis Cluster hashes only what is inside the first `{…}`, so every name below lands
  // in one slot. The namespace pattern admits no braces, so a table name can never add a tag.
  const head = layout === 'cluster' ? `{${namespace}}` : namespace;
  const snapshot = (table: string): string => `${head}:snapshot:${table}`;
  return Object.freeze({
    namespace,
    layout,
    events: `${head}:events`,
    control: `${head}:control`,
    leader: `${head}:leader`,
    epoch: `${head}:epoch`,
    status: `${head}:status`,
    bridges: `${head}:bridges`,
    queue: `${namespace}-reload`,
    queuePrefix: layout === 'cluster' ? `${head}:bull` : 'bull',
    snapshot,
    snapshotKeys: (table: string): SnapshotKeys =>
      Object.freeze({
        snapshot: snapshot(table),
        counter: `${head}:snapshot-version:${table}`,
        stored: `${head}:snapshot-stored:${table}`,
        generation: `${head}:snapshot-generation:${table}`,
      }),
  });
}

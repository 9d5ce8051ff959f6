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
  /** BullMQ queue name `<ns>-reload` of reload jobs (BullMQ adds its own `bull:` prefix). */
  readonly queue: string;
  /** Key `<ns>:snapshot:<schema.table>` of one table's snapshot: `snapshotKeys(table).snapshot`. */
  snapshot(table: string): string;
  /** Every key of one table's snapshot (`table` as `schema.name`). */
  snapshotKeys(table: string): SnapshotKeys;
}

/** The namespace when none is given. */
export const DEFAULT_NAMESPACE = 'psc';

// Conservative on purpose: a namespace ends up in Redis keys, BullMQ queue names and log lines.
const NAMESPACE = /^[A-Za-z0-9_-]{1,64}$/;

/** Names under `namespace` (default `psc`): channel `psc:events`, queue `psc-reload`, … */
export function namesFor(namespace: string = DEFAULT_NAMESPACE): Names {
  if (!NAMESPACE.test(namespace)) {
    throw new ProtocolError(
      'INVALID_NAMESPACE',
      `invalid namespace ${JSON.stringify(namespace)}: use 1-64 letters, digits, '_' or '-'`,
    );
  }
  const snapshot = (table: string): string => `${namespace}:snapshot:${table}`;
  return Object.freeze({
    namespace,
    events: `${namespace}:events`,
    control: `${namespace}:control`,
    leader: `${namespace}:leader`,
    epoch: `${namespace}:epoch`,
    status: `${namespace}:status`,
    bridges: `${namespace}:bridges`,
    queue: `${namespace}-reload`,
    snapshot,
    snapshotKeys: (table: string): SnapshotKeys =>
      Object.freeze({
        snapshot: snapshot(table),
        counter: `${namespace}:snapshot-version:${table}`,
        stored: `${namespace}:snapshot-stored:${table}`,
        generation: `${namespace}:snapshot-generation:${table}`,
      }),
  });
}

import { ProtocolError } from './errors.ts';

/** Every Redis channel, key and queue one deployment uses, derived from its namespace. */
export interface Names {
  readonly namespace: string;
  /** Pub/sub channel of invalidate, resync, heartbeat and snapshot messages. */
  readonly events: string;
  /** Pub/sub channel on which operators ask the leader for a resync (`pg-static-cache resync`). */
  readonly control: string;
  /** The leader lease: JSON {bridge, epoch, backendPid, renewedAt}, with a TTL. */
  readonly leader: string;
  /** Counter whose every increment is a new leader epoch. */
  readonly epoch: string;
  /** Hash the leader keeps up to date for `pg-static-cache status`. */
  readonly status: string;
  /** BullMQ queue name of reload jobs (BullMQ adds its own prefix). */
  readonly queue: string;
  /** Key of one table's snapshot. */
  snapshot(table: string): string;
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
  return Object.freeze({
    namespace,
    events: `${namespace}:events`,
    control: `${namespace}:control`,
    leader: `${namespace}:leader`,
    epoch: `${namespace}:epoch`,
    status: `${namespace}:status`,
    queue: `${namespace}-reload`,
    snapshot: (table: string) => `${namespace}:snapshot:${table}`,
  });
}

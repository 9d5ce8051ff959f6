import { createHash } from 'node:crypto';
import type { Queryable } from '@pg-static-cache/postgres';

/**
 * The session advisory lock whose holder is the leader: a 64-bit key from the SHA-256 of
 * `psc:leader:<namespace>`, so deployments with different namespaces on one database elect
 * separately (and never collide with the trigger installer's fixed transaction lock).
 */
export class LeaderLock {
  /** The bigint key, as decimal text (node-postgres passes bigint parameters as text). */
  readonly key: string;
  // pg_locks shows a bigint advisory key split into two oid columns, high half in classid.
  readonly #classid: number;
  readonly #objid: number;

  constructor(namespace: string) {
    const digest = createHash('sha256').update(`psc:leader:${namespace}`).digest();
    const key = digest.readBigInt64BE(0);
    this.key = key.toString();
    const unsigned = BigInt.asUintN(64, key);
    this.#classid = Number(unsigned >> 32n);
    this.#objid = Number(unsigned & 0xffff_ffffn);
  }

  /** Tries the lock on this session; the session's backend pid when granted, else undefined. */
  async tryAcquire(session: Queryable): Promise<number | undefined> {
    const result = await session.query<{ locked: unknown; pid: unknown }>(
      'SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8) AS locked, pg_catalog.pg_backend_pid() AS pid',
      [this.key],
    );
    const row = result.rows[0];
    return row?.locked === true ? Number(row.pid) : undefined;
  }

  /** The backend pid holding the lock in this database, or undefined when it is free. */
  async holder(db: Queryable): Promise<number | undefined> {
    const result = await db.query<{ pid: unknown }>(
      `SELECT l.pid FROM pg_catalog.pg_locks l
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
         AND l.classid = $1::pg_catalog.oid AND l.objid = $2::pg_catalog.oid
         AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
       LIMIT 1`,
      [this.#classid, this.#objid],
    );
    const pid = result.rows[0]?.pid;
    return pid === undefined || pid === null ? undefined : Number(pid);
  }

  /**
   * Fencing: terminates the backend holding the lock and waits (up to `timeoutMs`) until it is gone,
   * so the lock is free when this returns true. Needs the same role or pg_signal_backend.
   */
  async terminate(db: Queryable, pid: number, timeoutMs: number): Promise<boolean> {
    const result = await db.query<{ done: boolean }>(
      'SELECT pg_catalog.pg_terminate_backend($1::pg_catalog.int4, $2::pg_catalog.int8) AS done',
      [pid, timeoutMs],
    );
    return result.rows[0]?.done === true;
  }
}

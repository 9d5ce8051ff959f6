import {
  PostgresError,
  resolveTableOid,
  type Queryable,
  type ResolvedTable,
} from '@pg-static-cache/postgres';

// An OID that does not resolve stays unresolvable (OIDs are not reused short of wraparound), so
// a misbehaving writer repeating it costs one catalog query a minute, not one per notification.
const UNKNOWN_TTL_MS = 60_000;
const MAX_UNKNOWN = 10_000;

/**
 * Notification OID → table, so the hot path queries the catalog only on the first event of a
 * table. Also knows which watched table each partition or inheritance child belongs to.
 */
export class TableCache {
  readonly #db: Queryable;
  readonly #onUnresolved: (oid: number, error: PostgresError) => void;
  readonly #byOid = new Map<number, ResolvedTable>();
  readonly #watchedBy = new Map<number, ResolvedTable>();
  readonly #unknownUntil = new Map<number, number>();
  readonly #pending = new Map<number, Promise<ResolvedTable | undefined>>();

  /** `onUnresolved` runs once per OID that does not name a table (not per notification). */
  constructor(db: Queryable, onUnresolved: (oid: number, error: PostgresError) => void) {
    this.#db = db;
    this.#onUnresolved = onUnresolved;
  }

  /** The relation with this OID; undefined when there is none (or it is not a table). Catalog errors reject. */
  resolve(oid: number): Promise<ResolvedTable | undefined> {
    const cached = this.#byOid.get(oid);
    if (cached !== undefined) return Promise.resolve(cached);
    const until = this.#unknownUntil.get(oid);
    if (until !== undefined && until > Date.now()) return Promise.resolve(undefined);
    let pending = this.#pending.get(oid);
    if (pending === undefined) {
      pending = this.#load(oid).finally(() => this.#pending.delete(oid));
      this.#pending.set(oid, pending);
    }
    return pending;
  }

  /** The watched table whose rows include this relation (itself, a partition or a child). */
  watchedOf(oid: number): ResolvedTable | undefined {
    return this.#watchedBy.get(oid);
  }

  /** OIDs of the watched tables themselves (not their partitions or children). */
  watchedOids(): number[] {
    return [...new Set([...this.#watchedBy.values()].map((table) => table.oid))];
  }

  /** The watched tables themselves, as last resolved. */
  watchedTables(): ResolvedTable[] {
    return [...new Set(this.#watchedBy.values())];
  }

  /** Replaces what is known with freshly resolved watched tables (catches renames and drops). */
  setWatched(tables: readonly ResolvedTable[]): void {
    this.#byOid.clear();
    this.#watchedBy.clear();
    this.#unknownUntil.clear();
    for (const table of tables) {
      this.#byOid.set(table.oid, table);
      for (const oid of table.memberOids) this.#watchedBy.set(oid, table);
    }
  }

  async #load(oid: number): Promise<ResolvedTable | undefined> {
    try {
      const table = await resolveTableOid(this.#db, oid);
      this.#byOid.set(oid, table);
      return table;
    } catch (error) {
      // Only "no such table" is an answer; anything else (connection lost) is the caller's to handle.
      if (!(error instanceof PostgresError)) throw error;
      if (this.#unknownUntil.size >= MAX_UNKNOWN) this.#unknownUntil.clear();
      this.#unknownUntil.set(oid, Date.now() + UNKNOWN_TTL_MS);
      this.#onUnresolved(oid, error);
      return undefined;
    }
  }
}

import type { Queryable } from './table.ts';

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/**
 * A `pg_lsn` text (`16/B374D848`) as a number that orders like the WAL position. Throws on
 * anything else; callers pass LSNs Postgres gave them or a schema already checked.
 */
export function lsnValue(lsn: string): bigint {
  const match = LSN.exec(lsn);
  if (match === null) throw new TypeError(`not an LSN: ${JSON.stringify(lsn.slice(0, 40))}`);
  const [, high = '0', low = '0'] = match;
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** A WAL position as Postgres writes it (`16/B374D848`). */
export function lsnText(lsn: bigint): string {
  const high = (lsn >> 32n).toString(16).toUpperCase();
  const low = (lsn & 0xffff_ffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

/**
 * The primary's WAL position now (`pg_current_wal_lsn()`). Read after a commit returned (or its
 * notification arrived), it is at or past that commit's record: a reader that has seen this
 * position has seen the commit.
 */
export async function currentWalPosition(db: Queryable): Promise<bigint> {
  const result = await db.query<{ lsn: unknown }>(
    'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn',
  );
  const lsn = result.rows[0]?.lsn;
  if (typeof lsn !== 'string') throw new TypeError('pg_current_wal_lsn() returned no row');
  return lsnValue(lsn);
}

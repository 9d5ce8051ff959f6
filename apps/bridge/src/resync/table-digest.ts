// A fingerprint of a whole table's content, computed inside Postgres so that a drift check of a
// 100k-row table ships one 64-character string to the bridge, not the rows.
import type { Queryable, ResolvedTable } from '@pg-static-cache/postgres';

/**
 * SQL returning one row `{digest}`: the SHA-256 hex of the table's rows as `SELECT * FROM` sees
 * them (partitions and inheritance children included, projected to the parent's columns).
 */
export function tableDigestSql(table: ResolvedTable): string {
  // Each row becomes the MD5 of its composite text form. `(r.*)` is the whole row even when a
  // column is named like the alias, and the composite form quotes any value holding a comma,
  // parenthesis, quote or whitespace, so distinct rows give distinct texts (NULL is empty, '' is "").
  // Ordering by that fixed-width hash under the C collation gives a total order that needs no
  // primary key and no collation, and a fixed width makes the concatenation unambiguous; hashing
  // per row keeps the aggregate at 32 bytes a row, far from the 1 GB limit of one text value.
  // The text forms follow the session's output settings (TimeZone, DateStyle, extra_float_digits),
  // so only compare digests taken through connections with the same settings.
  const row = 'pg_catalog.md5((r.*)::pg_catalog.text)';
  return (
    'SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(' +
    `COALESCE(pg_catalog.string_agg(${row}, '' ORDER BY ${row} COLLATE pg_catalog."C"), ''), ` +
    `'UTF8')), 'hex') AS digest FROM ${table.sql} r`
  );
}

/** Runs {@link tableDigestSql}: one statement, so the digest reflects one consistent snapshot. */
export async function computeTableDigest(db: Queryable, table: ResolvedTable): Promise<string> {
  const result = await db.query<{ digest: unknown }>(tableDigestSql(table));
  const digest = result.rows[0]?.digest;
  if (typeof digest !== 'string') throw new TypeError(`no digest returned for ${table.display}`);
  return digest;
}

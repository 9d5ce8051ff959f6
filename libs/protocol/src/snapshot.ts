import { createHash } from 'node:crypto';
import { z } from 'zod';
import { generationSchema, PROTOCOL_VERSION } from './messages.ts';
import { Signer, type SignatureReject } from './signing.ts';

const lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);

const fieldSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(63 * 4),
  /** Postgres type OID, as node-postgres reports it in `fields[].dataTypeID`. */
  dataTypeID: z.number().int().min(1).max(0xffff_ffff),
});

const snapshotSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  /** `schema.name` */
  table: z.string().min(1).max(512),
  oid: z.number().int().min(1).max(0xffff_ffff),
  /** Moves forward only; a store with a lower version than the one held is refused. */
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /**
   * Random id of the version counter's life: a counter that restarts (FLUSHALL, eviction, a new
   * Redis) gets a new one, so readers know its low versions are new, not old.
   */
  generation: generationSchema,
  fields: z.array(fieldSchema).max(1_600),
  /**
   * Rows as Postgres text values (null for NULL), in primary-key order, one entry per field.
   * Checked by hand in parseSnapshot: zod per cell costs most of the parse on a 100k-row table.
   */
  rows: z.array(z.unknown()),
  /** pg_current_wal_lsn() read before the query started: the snapshot includes every commit up to it. */
  lsn,
  at: z.number().nonnegative(),
  /** SHA-256 hex of {@link snapshotContentDigest}: lets a reader detect a corrupted or torn value. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});

/** A table's rows as stored in Redis by a reload worker, for clients in `snapshot` mode. */
export type Snapshot = Omit<z.infer<typeof snapshotSchema>, 'rows'> & {
  readonly rows: readonly (readonly (string | null)[])[];
};

function isTextRow(row: unknown, width: number): row is (string | null)[] {
  if (!Array.isArray(row) || row.length !== width) return false;
  for (const cell of row as unknown[]) {
    if (cell !== null && typeof cell !== 'string') return false;
  }
  return true;
}
/** One column of a snapshot. */
export type SnapshotField = z.infer<typeof fieldSchema>;

/** SHA-256 hex over the parts of a snapshot that carry data: what `digest` must equal. */
export function snapshotContentDigest(
  snapshot: Pick<Snapshot, 'table' | 'oid' | 'version' | 'generation' | 'fields' | 'rows' | 'lsn'>,
): string {
  const { table, oid, version, generation, fields, rows, lsn: at } = snapshot;
  return createHash('sha256')
    .update(JSON.stringify([table, oid, version, generation, at, fields, rows]))
    .digest('hex');
}

/** Why a stored snapshot cannot be used; the client then falls back to Postgres. */
export type SnapshotReject =
  'not-json' | 'invalid' | 'digest-mismatch' | 'shape-mismatch' | SignatureReject;

const UNSIGNED = new Signer();

/**
 * Parses and verifies a stored snapshot; never throws. With a `signer` that has keys, a value not
 * signed by one of them is refused unread; without keys, a signature is stripped unchecked.
 */
export function parseSnapshot(
  raw: string | Buffer,
  signer: Signer = UNSIGNED,
):
  | { readonly ok: true; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly reason: SnapshotReject; readonly detail: string } {
  const opened = signer.open(raw);
  if (!opened.ok) {
    return { ok: false, reason: opened.reason, detail: 'not signed by a configured key' };
  }
  const text = opened.body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: 'not-json', detail: String(error).slice(0, 200) };
  }
  const parsed = snapshotSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const detail = `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`;
    return { ok: false, reason: 'invalid', detail };
  }
  const width = parsed.data.fields.length;
  if (!parsed.data.rows.every((row) => isTextRow(row, width))) {
    return {
      ok: false,
      reason: 'shape-mismatch',
      detail: `every row must hold ${width} text or null values`,
    };
  }
  const snapshot = parsed.data as Snapshot;
  // A valid signature already proves the bytes are the worker's own, digest included: hashing the
  // whole table again (a JSON.stringify of every row) in every app would prove nothing more.
  if (!signer.enabled && snapshotContentDigest(snapshot) !== snapshot.digest) {
    return { ok: false, reason: 'digest-mismatch', detail: 'content does not match its digest' };
  }
  return { ok: true, snapshot };
}

/** Builds a snapshot with its digest filled in. */
export function createSnapshot(parts: Omit<Snapshot, 'v' | 'digest'>): Snapshot {
  return { v: PROTOCOL_VERSION, ...parts, digest: snapshotContentDigest(parts) };
}

/** The stored form of a snapshot: its JSON, signed when `signer` has keys. */
export function serializeSnapshot(snapshot: Snapshot, signer?: Signer): string {
  const text = JSON.stringify(snapshot);
  return signer === undefined ? text : signer.sign(text);
}

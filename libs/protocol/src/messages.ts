import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { Signer, type SignatureReject } from './signing.ts';

/** Protocol version every message carries; a client drops versions it does not know. */
export const PROTOCOL_VERSION = 1;

/** Larger payloads are dropped unread: no legitimate message comes close. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const uint32 = z.number().int().min(0).max(0xffff_ffff);
const counter = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const name = z.string().min(1).max(512);
/** `pg_lsn` text form, e.g. `0/16B3748`. */
const lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** Names one life of a table's snapshot version counter (see `Snapshot.generation`). */
export const generationSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

// Fields of everything a leader sends: who, in which leadership term, in which order, when.
const fromLeader = {
  v: z.literal(PROTOCOL_VERSION),
  bridge: name,
  epoch: counter,
  seq: counter,
  /** Milliseconds since the Unix epoch at the sender. */
  at: z.number().nonnegative(),
};

const invalidateSchema = z.strictObject({
  ...fromLeader,
  type: z.literal('invalidate'),
  /** `schema.name` of the table (or partition) that changed. */
  table: name,
  oid: uint32.min(1),
  /** pg_current_wal_lsn() read after the notification: an upper bound of the commit's LSN. */
  lsn,
});

/** Why a resync was sent. */
export const RESYNC_REASONS = ['takeover', 'reconnect', 'scheduled', 'drift', 'manual'] as const;

const resyncSchema = z.strictObject({
  ...fromLeader,
  type: z.literal('resync'),
  reason: z.enum(RESYNC_REASONS),
  /** Only these tables (`schema.name`); all when absent. */
  tables: z.array(name).max(10_000).optional(),
});

const heartbeatSchema = z.strictObject({ ...fromLeader, type: z.literal('heartbeat') });

const snapshotFields = {
  v: z.literal(PROTOCOL_VERSION),
  table: name,
  oid: uint32.min(1),
  /** Only moves forward per table within one `generation`. */
  version: counter,
  /** The life of the version counter `version` was taken from; a new one means the counter restarted. */
  generation: generationSchema,
  /** Redis key holding the snapshot. */
  key: name,
  digest: sha256Hex,
  lsn,
  at: z.number().nonnegative(),
  worker: name,
};

const snapshotSchema = z.strictObject({ ...snapshotFields, type: z.literal('snapshot') });

/**
 * Sent by a worker right before the `snapshot` message of the same version, when the change is
 * small: how the snapshot of version `from` (whose digest is `fromDigest`) becomes this one, by
 * position (see `SnapshotDelta`). An app holding exactly that snapshot applies it without reading
 * the stored value; any other app waits for the `snapshot` message. A separate type, so that apps
 * that do not know it drop it and still get the `snapshot` message.
 */
const snapshotDeltaSchema = z.strictObject({
  ...snapshotFields,
  type: z.literal('snapshot-delta'),
  from: counter,
  fromDigest: sha256Hex,
  length: counter,
  removed: z.array(counter),
  rows: z.array(z.tuple([counter, z.array(z.string().nullable()).max(1_600)])),
});

const messageSchema = z.discriminatedUnion('type', [
  invalidateSchema,
  resyncSchema,
  heartbeatSchema,
  snapshotSchema,
  snapshotDeltaSchema,
]);

/** Something in a table changed: reload the caches of that table. */
export type InvalidateMessage = z.infer<typeof invalidateSchema>;
/** Events may have been lost or drift was found: reload everything (or the listed tables). */
export type ResyncMessage = z.infer<typeof resyncSchema>;
/** The leader is alive; silence means caches can no longer be trusted to be fresh. */
export type HeartbeatMessage = z.infer<typeof heartbeatSchema>;
/** A worker stored a new snapshot of a table. */
export type SnapshotMessage = z.infer<typeof snapshotSchema>;
/** A worker stored a new snapshot of a table, and this is how the one before it became it. */
export type SnapshotDeltaMessage = z.infer<typeof snapshotDeltaSchema>;
/** Any message on the events channel. */
export type Message = z.infer<typeof messageSchema>;
/** What reload workers send: unfenced, with no epoch or seq. */
export type WorkerMessage = SnapshotMessage | SnapshotDeltaMessage;

/** Whether `message` comes from a reload worker rather than the leader. */
export function isWorkerMessage(message: Message): message is WorkerMessage {
  return message.type === 'snapshot' || message.type === 'snapshot-delta';
}
/** Why a resync was sent. */
export type ResyncReason = (typeof RESYNC_REASONS)[number];

/** Why a message was dropped; each is counted separately. */
export type RejectReason =
  'too-large' | 'not-json' | 'unknown-version' | 'invalid' | SignatureReject;

/** The outcome of reading one message from Redis, which is untrusted input. */
export type ParseResult =
  | { readonly ok: true; readonly message: Message }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

function reject(reason: RejectReason, detail: string): ParseResult {
  return { ok: false, reason, detail: detail.slice(0, 200) };
}

const UNSIGNED = new Signer();

/**
 * Validates a raw message; never throws, whatever the input. With a `signer` that has keys, a
 * message that is not signed by one of them is refused before it is parsed; without keys, a
 * signature is stripped unchecked.
 */
export function parseMessage(raw: string | Buffer, signer: Signer = UNSIGNED): ParseResult {
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length;
  if (bytes > MAX_MESSAGE_BYTES) return reject('too-large', `${bytes} bytes`);
  const opened = signer.open(raw);
  if (!opened.ok) return reject(opened.reason, 'not signed by a configured key');
  const text = opened.body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return reject('not-json', error instanceof Error ? error.message : 'not JSON');
  }
  if (typeof value === 'object' && value !== null && 'v' in value && value.v !== PROTOCOL_VERSION) {
    return reject('unknown-version', `v=${JSON.stringify(value.v)}`);
  }
  const parsed = messageSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return reject('invalid', `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return { ok: true, message: parsed.data };
}

/**
 * Validates and serializes a message, signed when `signer` has keys; throws ProtocolError for a
 * message that a reader would drop.
 */
export function serializeMessage(message: Message, signer?: Signer): string {
  const parsed = messageSchema.safeParse(message);
  if (!parsed.success) {
    throw new ProtocolError(
      'INVALID_MESSAGE',
      `invalid ${message.type} message: ${parsed.error.message}`,
    );
  }
  const text = JSON.stringify(parsed.data);
  return signer === undefined ? text : signer.sign(text);
}

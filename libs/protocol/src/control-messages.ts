import { z } from 'zod';
import { MAX_MESSAGE_BYTES } from './messages.ts';
import { Signer } from './signing.ts';

// The control channel (`names.control`): `pg-static-cache resync` asks, the leader answers. Only
// bridges and the CLI speak it; clients subscribe to the events channel alone.

const requestId = z.string().min(1).max(128);

const resyncRequestSchema = z.strictObject({
  v: z.literal(1),
  type: z.literal('resync-request'),
  /** Tables as a user writes them in SQL; all watched tables when absent. */
  tables: z.array(z.string().min(1).max(512)).min(1).max(10_000).optional(),
  requestId,
});

const resyncDoneSchema = z.strictObject({
  v: z.literal(1),
  type: z.literal('resync-done'),
  requestId,
  /** The leader that answered. */
  bridge: z.string().min(1).max(512),
  epoch: z.number().int().min(0),
  /** Whether a resync message went out; false with `error` when, e.g., a table does not exist. */
  ok: z.boolean(),
  /** The `schema.name` of each table resynced; absent when all were. */
  tables: z.array(z.string()).optional(),
  error: z.string().max(1_000).optional(),
});

const controlSchema = z.discriminatedUnion('type', [resyncRequestSchema, resyncDoneSchema]);

/** `pg-static-cache resync` asks the leader (on `names.control`) to publish a manual resync. */
export type ResyncRequest = z.infer<typeof resyncRequestSchema>;
/** The leader's answer to a {@link ResyncRequest}, on `names.control`, matched by requestId. */
export type ResyncDone = z.infer<typeof resyncDoneSchema>;
/** Any message on the control channel. */
export type ControlMessage = z.infer<typeof controlSchema>;

const UNSIGNED = new Signer();

/**
 * Validates a control-channel message (untrusted input); undefined when invalid, or when `signer`
 * has keys and none of them signed it. Never throws.
 */
export function parseControlMessage(
  raw: string | Buffer,
  signer: Signer = UNSIGNED,
): ControlMessage | undefined {
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length;
  if (bytes > MAX_MESSAGE_BYTES) return undefined;
  const opened = signer.open(raw);
  if (!opened.ok) return undefined;
  try {
    const parsed = controlSchema.safeParse(JSON.parse(opened.body.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serializes a control message after validating it (a malformed one throws a ZodError), signed
 * when `signer` has keys.
 */
export function serializeControlMessage(message: ControlMessage, signer?: Signer): string {
  const text = JSON.stringify(controlSchema.parse(message));
  return signer === undefined ? text : signer.sign(text);
}

import { MAX_MESSAGE_BYTES } from '@pg-static-cache/protocol';
import { z } from 'zod';

// Local to the bridge for now (only the bridge and the CLI speak it); candidates for libs/protocol.

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

/** Validates a control-channel message (untrusted input); undefined when invalid. Never throws. */
export function parseControlMessage(raw: string | Buffer): ControlMessage | undefined {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (Buffer.byteLength(text, 'utf8') > MAX_MESSAGE_BYTES) return undefined;
  try {
    const parsed = controlSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Serializes a control message after validating it (a malformed one throws a ZodError). */
export function serializeControlMessage(message: ControlMessage): string {
  return JSON.stringify(controlSchema.parse(message));
}

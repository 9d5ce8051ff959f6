import { z } from 'zod';

/** What a bridge is doing: waiting to lead, leading, or shut down. */
export const BRIDGE_ROLES = ['standby', 'leader', 'stopped'] as const;

/** One of {@link BRIDGE_ROLES}. */
export type BridgeRole = (typeof BRIDGE_ROLES)[number];

/** One bridge's entry in the `names.bridges` hash (field: bridge id), read by `status`. */
export interface PresenceEntry {
  readonly role: BridgeRole;
  readonly pid: number;
  readonly host: string;
  /** Milliseconds since the Unix epoch at the bridge's last poll or heartbeat. */
  readonly lastSeenAt: number;
  /** The leader's epoch; absent for standbys. */
  readonly epoch?: number;
}

// Not strict: presence is an operator's view, and a newer bridge adding a field must still show.
const presenceSchema = z.object({
  role: z.enum(BRIDGE_ROLES),
  pid: z.number().int().min(0),
  host: z.string().max(1_024),
  lastSeenAt: z.number().nonnegative(),
  epoch: z.number().int().min(0).optional(),
});

/** Reads one entry of the bridges hash (untrusted); undefined when it is not a presence entry. */
export function parsePresenceEntry(text: string | null | undefined): PresenceEntry | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    const parsed = presenceSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    const { epoch, ...entry } = parsed.data;
    return epoch === undefined ? entry : { ...entry, epoch };
  } catch {
    return undefined;
  }
}

/**
 * The entry as stored. `lastSeenAt` must stay a top-level number: the bridge's presence script
 * reads it (cjson) to drop entries of bridges that died without saying goodbye.
 */
export function serializePresenceEntry(entry: PresenceEntry): string {
  const { role, pid, host, lastSeenAt, epoch } = entry;
  return JSON.stringify({ role, pid, host, lastSeenAt, ...(epoch === undefined ? {} : { epoch }) });
}

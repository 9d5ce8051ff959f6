import { z } from 'zod';

/** Who leads, as `names.leader` holds it (JSON, with a TTL of the bridge's lease time). */
export interface LeaseValue {
  readonly bridge: string;
  readonly epoch: number;
  /** pg_backend_pid() of the leader's LISTEN session, which holds the leader lock. */
  readonly backendPid: number;
  /** Milliseconds since the Unix epoch at the leader's last renewal. */
  readonly renewedAt: number;
}

const leaseSchema = z.strictObject({
  bridge: z.string().min(1).max(512),
  epoch: z.number().int().min(0),
  backendPid: z.number().int().min(1),
  renewedAt: z.number().nonnegative(),
});

/** Reads a lease as Redis holds it (untrusted); undefined when absent or not a lease. */
export function parseLease(text: string | null | undefined): LeaseValue | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    const parsed = leaseSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The lease as stored: `{"bridge":…,"epoch":…,"backendPid":…,"renewedAt":…}`, always in this key
 * order, so everything before `"renewedAt"` names one term exactly and the bridge's fence can
 * compare that prefix without parsing JSON in Lua.
 */
export function serializeLease(lease: LeaseValue): string {
  const { bridge, epoch, backendPid, renewedAt } = lease;
  return JSON.stringify({ bridge, epoch, backendPid, renewedAt } satisfies LeaseValue);
}

/**
 * The start every value of one term's lease has, whatever its `renewedAt`: the bridge's fence
 * compares it, so a renewal by the term itself never makes its own publishes miss, while no other
 * bridge or epoch can match it (the JSON of each field is exact and ends at a delimiter).
 */
export function leaseTermPrefix(term: Omit<LeaseValue, 'renewedAt'>): string {
  const text = serializeLease({ ...term, renewedAt: 0 });
  return text.slice(0, -'"renewedAt":0}'.length);
}

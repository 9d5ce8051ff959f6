import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { BridgeConfig } from '../config.ts';

/** Name of every job on the reload queue. */
export const RELOAD_JOB = 'reload';

const jobDataSchema = z.strictObject({
  /** `schema.name` of the watched table: names the snapshot key, so it is what a job is about. */
  table: z.string().min(1).max(512),
  /** The table's OID when the job was added (a rename keeps it; a drop and re-create does not). */
  oid: z.number().int().min(1).max(0xffff_ffff),
  /** pg_current_wal_lsn() of the event that caused the job (the first one, when jobs coalesced). */
  lsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/),
  /** When the job was added, ms since the Unix epoch. */
  at: z.number().nonnegative(),
});

/** What a reload job carries. */
export type ReloadJobData = z.infer<typeof jobDataSchema>;

/** Validates job data read back from Redis (which is shared, hence untrusted); undefined when invalid. */
export function parseReloadJobData(value: unknown): ReloadJobData | undefined {
  const parsed = jobDataSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Options of a reload job for `table`. Deduplicated per table with `keepLastIfActive`: while a job
 * for the table waits (or waits for a retry), further adds are dropped, since that job has not
 * started and will see their commits; while one runs, the last add is kept and becomes exactly one
 * more job when the running one finishes, since the running query may have missed their commits.
 * So one table has at most one job running, and workers need no per-table lock (a worker frozen
 * past its lock can still overlap with the rerun of its job; the snapshot store's version check
 * settles that). The id is the table's name, not its OID: a job's work is the snapshot key,
 * which is named after the table.
 */
export function reloadJobOptions(config: BridgeConfig, table: string): JobsOptions {
  return {
    deduplication: { id: table, keepLastIfActive: true },
    attempts: config.jobAttempts,
    backoff: { type: 'exponential', delay: config.jobBackoffMs },
    // Bounded history: enough for Bull Board and post-mortems, without growing Redis for ever.
    removeOnComplete: { count: 1_000 },
    removeOnFail: { count: 5_000 },
  };
}

// The moments the bridge profile stamps (see probe.ts and profile.ts), shared by both sides.

/** One step of the bridged path, stamped inside the bridge or the subscriber process. */
export type ProbeMark =
  /** Bridge: its LISTEN session emitted the NOTIFY of the bench channel. */
  | 'notify'
  /** Bridge: the pg_current_wal_lsn() query was sent / answered. */
  | 'lsn-start'
  | 'lsn-end'
  /** Bridge: the fenced publish (EVALSHA) of an invalidate was sent / answered. */
  | 'publish-sent'
  | 'publish-done'
  /** Subscriber: its Redis connection emitted the invalidate message. */
  | 'message'
  /** Subscriber: the reload query of the bench table was sent / answered. */
  | 'reload-start'
  | 'reload-end';

/** A mark and when it happened. */
export interface ProbeStamp {
  readonly mark: ProbeMark;
  /** Unix-epoch milliseconds with sub-millisecond precision: comparable across the machine's processes. */
  readonly at: number;
}

/** Environment variable naming the file a probed process writes its stamps to. */
export const PROBE_FILE_ENV = 'PSC_PROBE_FILE';

/** Now, as a {@link ProbeStamp} time. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A `performance.now()` of this process as a {@link ProbeStamp} time. */
export function epochOf(performanceNow: number): number {
  return performance.timeOrigin + performanceNow;
}

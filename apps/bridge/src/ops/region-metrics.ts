import { Counter, Gauge, type Registry } from 'prom-client';

/** Why a message never reached a region (the `reason` of psc_bridge_region_messages_dropped_total). */
export type RegionDrop =
  /** Its publish failed (Redis unreachable, refusing, or slower than the lease). */
  | 'failed'
  /** The region's buffer was full. */
  | 'buffer-full'
  /** It waited longer than the lease in the buffer: its term may be over. */
  | 'too-late'
  /** A resync was owed to the region: the one sent in its place covers it. */
  | 'covered';

const DROPS: readonly RegionDrop[] = ['failed', 'buffer-full', 'too-late', 'covered'];

/** The per-region series of a bridge (label `region`), in the bridge's registry. */
export class RegionMetrics {
  readonly publishFailures: Counter<'region' | 'reason'>;
  readonly dropped: Counter<'region' | 'reason'>;
  readonly resyncs: Counter<'region'>;
  readonly jobFailures: Counter<'region'>;
  readonly lastPublish: Gauge<'region'>;
  readonly queued: Gauge<'region'>;
  readonly up: Gauge<'region'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.publishFailures = new Counter({
      name: 'psc_bridge_region_publish_failures_total',
      help: "Messages a region's Redis did not take: unreachable (down, or slower than the lease) or refused (OOM, READONLY)",
      labelNames: ['region', 'reason'],
      registers,
    });
    this.dropped = new Counter({
      name: 'psc_bridge_region_messages_dropped_total',
      help: 'Messages that never reached a region: failed, buffer-full, too-late, or covered by the resync the region was owed',
      labelNames: ['region', 'reason'],
      registers,
    });
    this.resyncs = new Counter({
      name: 'psc_bridge_region_resyncs_total',
      help: 'Resyncs a region was owed after lost messages and got once its Redis took messages again',
      labelNames: ['region'],
      registers,
    });
    this.jobFailures = new Counter({
      name: 'psc_bridge_region_job_failures_total',
      help: "Adds of reload jobs to a region's queue that failed; the region gets a job for every table once adds work again",
      labelNames: ['region'],
      registers,
    });
    this.lastPublish = new Gauge({
      name: 'psc_bridge_region_last_publish_timestamp_seconds',
      help: 'When a message last reached the region (seconds since the Unix epoch; 0 before the first)',
      labelNames: ['region'],
      registers,
    });
    this.queued = new Gauge({
      name: 'psc_bridge_region_queued_messages',
      help: "Messages waiting in the region's buffer",
      labelNames: ['region'],
      registers,
    });
    this.up = new Gauge({
      name: 'psc_bridge_region_up',
      help: "1 while the region's last publish went through (or none was tried yet), 0 while they fail",
      labelNames: ['region'],
      registers,
    });
  }

  /** Zero series for `region`, so dashboards and alerts see 0 rather than nothing. */
  add(region: string): void {
    for (const reason of ['unreachable', 'refused'] as const) {
      this.publishFailures.inc({ region, reason }, 0);
    }
    for (const reason of DROPS) this.dropped.inc({ region, reason }, 0);
    this.resyncs.inc({ region }, 0);
    this.jobFailures.inc({ region }, 0);
    this.lastPublish.set({ region }, 0);
    this.queued.set({ region }, 0);
    this.up.set({ region }, 1);
  }
}

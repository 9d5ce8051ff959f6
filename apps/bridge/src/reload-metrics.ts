import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a reload job was added. */
export type ReloadTrigger = 'invalidate' | 'resync';

/** Metrics of the leader's side of the reload queue, in the bridge's registry. */
export class ReloadQueueMetrics {
  readonly enqueued: Counter<'trigger'>;
  readonly enqueueErrors: Counter;

  constructor(registry: Registry) {
    this.enqueued = new Counter({
      name: 'psc_reload_jobs_enqueued_total',
      help: 'Reload jobs added (one per table and event; the queue coalesces them), by trigger',
      labelNames: ['trigger'],
      registers: [registry],
    });
    this.enqueueErrors = new Counter({
      name: 'psc_reload_enqueue_errors_total',
      help: 'Reload jobs that could not be added (Redis unreachable); snapshot clients see an old LSN and read Postgres',
      registers: [registry],
    });
    for (const trigger of ['invalidate', 'resync'] satisfies ReloadTrigger[]) {
      this.enqueued.inc({ trigger }, 0);
    }
  }
}

/** How a reload job attempt ended. */
export type JobOutcome = 'completed' | 'retried' | 'failed';

/** Metrics of a reload worker: in the bridge's registry, or the standalone worker's own. */
export class ReloadWorkerMetrics {
  readonly jobs: Counter<'outcome'>;
  readonly stalled: Counter;
  readonly superseded: Counter;
  readonly duration: Histogram;
  readonly bytes: Gauge<'table'>;
  readonly rows: Gauge<'table'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.jobs = new Counter({
      name: 'psc_reload_jobs_total',
      help: 'Reload job attempts by outcome: completed, retried (failed, will run again) or failed (no tries left)',
      labelNames: ['outcome'],
      registers,
    });
    this.stalled = new Counter({
      name: 'psc_reload_jobs_stalled_total',
      help: 'Jobs found running without a live worker (lock expired) and put back to run again',
      registers,
    });
    this.superseded = new Counter({
      name: 'psc_reload_snapshots_superseded_total',
      help: 'Snapshots not stored because a newer version was stored first',
      registers,
    });
    this.duration = new Histogram({
      name: 'psc_reload_duration_seconds',
      help: 'Time to take and store one snapshot (table query, Redis write, publish)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.bytes = new Gauge({
      name: 'psc_snapshot_bytes',
      help: 'Size of the last snapshot this worker stored, by table',
      labelNames: ['table'],
      registers,
    });
    this.rows = new Gauge({
      name: 'psc_snapshot_rows',
      help: 'Rows of the last snapshot this worker stored, by table',
      labelNames: ['table'],
      registers,
    });
    for (const outcome of ['completed', 'retried', 'failed'] satisfies JobOutcome[]) {
      this.jobs.inc({ outcome }, 0);
    }
  }
}

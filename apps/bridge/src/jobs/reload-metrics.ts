import { REPLICA_FALLBACK_REASONS } from '@pg-static-cache/postgres';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueState } from './queue-state.ts';

/** Why a reload job was added. */
export type ReloadTrigger = 'invalidate' | 'resync';

/** The job states `psc_reload_queue_jobs` counts, as its `state` label. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * How long a scrape waits for the queue's counts. Prometheus' default scrape timeout is 10 s:
 * a slow or frozen Redis must cost the scrape this much at most, not the whole page.
 */
export const QUEUE_DEPTH_TIMEOUT_MS = 2_000;

/** Reads the queue's state now (see queueStateOf). */
export type QueueStateReader = () => Promise<QueueState>;

/**
 * One read of the queue per scrape, however many gauges ask, with a deadline. An outcome of
 * undefined means the read failed or took too long.
 */
class QueueDepthReader {
  readonly #read: QueueStateReader;
  readonly #timeoutMs: number;
  #inFlight: Promise<QueueState> | undefined;

  constructor(read: QueueStateReader, timeoutMs: number) {
    this.#read = read;
    this.#timeoutMs = timeoutMs;
  }

  async read(): Promise<QueueState | undefined> {
    // A read still hanging from an earlier scrape is awaited again rather than joined by another
    // one, so a frozen Redis collects one pending command, not one per scrape.
    const read = (this.#inFlight ??= this.#read().finally(() => (this.#inFlight = undefined)));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, this.#timeoutMs, undefined);
    });
    try {
      return await Promise.race([read.catch(() => undefined), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Metrics of the reload queue as a bridge sees it, in the bridge's registry. */
export class ReloadQueueMetrics {
  readonly enqueued: Counter<'trigger'>;
  readonly enqueueErrors: Counter;
  readonly jobs: Gauge<'state'>;
  readonly paused: Gauge;
  readonly up: Gauge;

  /**
   * `readState` is asked at scrape time for the depth gauges. When it fails or takes longer than
   * `timeoutMs`, `psc_reload_queue_up` is 0 and the depth gauges are left out of the page: a
   * zero or the last count would look like a healthy queue, and an absent series alone would
   * silently stop an alert on it, so `up` is what to alert on.
   */
  constructor(registry: Registry, readState: QueueStateReader, timeoutMs = QUEUE_DEPTH_TIMEOUT_MS) {
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
    const depth = new QueueDepthReader(readState, timeoutMs);
    this.jobs = new Gauge({
      name: 'psc_reload_queue_jobs',
      help: 'Reload jobs in the queue now, by state (waiting, active, delayed, failed); absent while psc_reload_queue_up is 0',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        const state = await depth.read();
        this.reset();
        if (state === undefined) return;
        for (const name of QUEUE_JOB_STATES) this.set({ state: name }, state[name]);
      },
    });
    this.paused = new Gauge({
      name: 'psc_reload_queue_paused',
      help: '1 while the reload queue is paused (Bull Board, BullMQ): jobs wait and no snapshot is stored; absent while psc_reload_queue_up is 0',
      registers: [registry],
      async collect() {
        const state = await depth.read();
        // Without labels, reset() would print 0: remove() leaves the series out.
        if (state === undefined) this.remove();
        else this.set(state.paused ? 1 : 0);
      },
    });
    this.up = new Gauge({
      name: 'psc_reload_queue_up',
      help: `1 when this scrape read the reload queue's counts from Redis, 0 when Redis failed or took over ${timeoutMs} ms`,
      registers: [registry],
      async collect() {
        this.set((await depth.read()) === undefined ? 0 : 1);
      },
    });
  }
}

/** How a reload job attempt ended. */
export type JobOutcome = 'completed' | 'retried' | 'failed';

/** Metrics of a reload worker: in the bridge's registry, or the standalone worker's own. */
export class ReloadWorkerMetrics {
  readonly jobs: Counter<'outcome'>;
  readonly inline: Counter<'outcome'>;
  readonly stalled: Counter;
  readonly superseded: Counter;
  readonly duration: Histogram;
  readonly bytes: Gauge<'table'>;
  readonly rows: Gauge<'table'>;
  readonly replicaReads: Counter;
  readonly replicaFallbacks: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.jobs = new Counter({
      name: 'psc_reload_jobs_total',
      help: 'Reload job attempts by outcome: completed, retried (failed, will run again) or failed (no tries left)',
      labelNames: ['outcome'],
      registers,
    });
    this.inline = new Counter({
      name: 'psc_reload_inline_total',
      help: 'Reloads the leader ran at once on its own worker, without a job, by outcome: completed, or failed (then queued as a job)',
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
    this.replicaReads = new Counter({
      name: 'psc_reload_replica_reads_total',
      help: 'Table queries of reload jobs the read replica (PSC_REPLICA_URL) served, once it had replayed the job position',
      registers,
    });
    this.replicaFallbacks = new Counter({
      name: 'psc_reload_replica_fallbacks_total',
      help: 'Table queries of reload jobs meant for the read replica that the primary served, by reason: lagging (not replayed within PSC_REPLICA_WAIT_MS) or unavailable (down, failing, or no replica of the primary)',
      labelNames: ['reason'],
      registers,
    });
    for (const outcome of ['completed', 'retried', 'failed'] satisfies JobOutcome[]) {
      this.jobs.inc({ outcome }, 0);
    }
    for (const outcome of ['completed', 'failed']) this.inline.inc({ outcome }, 0);
    for (const reason of REPLICA_FALLBACK_REASONS) this.replicaFallbacks.inc({ reason }, 0);
  }
}

import { FailureStreak } from '@pg-static-cache/postgres';
import type { Logger } from 'pino';
import { toError } from '../errors.ts';
import type { ReloadQueue, ReloadTarget } from '../jobs/reload-queue.ts';
import type { ReloadTrigger } from '../jobs/reload-metrics.ts';
import type { RegionMetrics } from '../ops/region-metrics.ts';

/** What a {@link RegionJobs} needs. */
export interface RegionJobsOptions {
  readonly region: string;
  /** The region's reload queue (on the region's Redis). */
  readonly queue: Pick<ReloadQueue, 'add' | 'close'>;
  /** Every watched table, for the jobs a region is owed after adds failed. */
  readonly allTables: () => Promise<readonly ReloadTarget[]>;
  /** An LSN read now, for those jobs. */
  readonly lsn: () => Promise<string>;
  readonly metrics: RegionMetrics;
  readonly logger: Logger;
}

interface Pending {
  readonly target: ReloadTarget;
  readonly lsn: string;
  readonly trigger: ReloadTrigger;
}

/**
 * One region's reload jobs, added in the background: the leader's publishing never waits for a
 * region's Redis. One add runs at a time; tables asked for meanwhile wait in a set (one entry per
 * table, as the queue itself would coalesce them), so a region that hangs holds one add and a
 * bounded set. An add that fails makes the region owed a job for every watched table, tried
 * again when asked ({@link retry}, after each message that reached the region).
 */
export class RegionJobs {
  readonly #options: RegionJobsOptions;
  readonly #pending = new Map<string, Pending>();
  readonly #failures: FailureStreak<Error>;
  #owesAll = false;
  #running = false;
  #closed = false;

  constructor(options: RegionJobsOptions) {
    this.#options = options;
    const { logger, region } = options;
    this.#failures = new FailureStreak({
      started: (err) =>
        logger.warn(
          { err, region },
          "cannot add reload jobs to the region's queue; it is owed a job for every table",
        ),
      ended: () => logger.info({ region }, "reload jobs reach the region's queue again"),
    });
  }

  /** Reload jobs for `targets`, caused by an event at `lsn`. */
  add(targets: readonly ReloadTarget[], lsn: string, trigger: ReloadTrigger): void {
    for (const target of targets) {
      if (!this.#pending.has(target.display)) {
        this.#pending.set(target.display, { target, lsn, trigger });
      }
    }
    this.#kick();
  }

  /** A job for every watched table (the region's snapshots may be missing changes). */
  reloadAll(): void {
    this.#owesAll = true;
    this.#kick();
  }

  /** Tries again what a failed add left owed; nothing when nothing is. */
  retry(): void {
    if (this.#owesAll || this.#pending.size > 0) this.#kick();
  }

  /** Adds nothing more and closes the queue. Safe twice. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pending.clear();
    await this.#options.queue.close();
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#run().finally(() => (this.#running = false));
  }

  // Until nothing waits, or an add fails (then the next retry or add tries again).
  async #run(): Promise<void> {
    const { queue, region, metrics } = this.#options;
    while (!this.#closed && (this.#owesAll || this.#pending.size > 0)) {
      const all = this.#owesAll;
      this.#owesAll = false;
      const batch = [...this.#pending.values()];
      this.#pending.clear();
      try {
        if (all) {
          const [targets, lsn] = await Promise.all([
            this.#options.allTables(),
            this.#options.lsn(),
          ]);
          await queue.add(targets, lsn, 'resync');
        }
        await Promise.all(batch.map((p) => queue.add([p.target], p.lsn, p.trigger)));
      } catch (error) {
        metrics.jobFailures.inc({ region });
        this.#failures.fail(toError(error));
        this.#owesAll = true;
        return;
      }
      this.#failures.succeed();
    }
  }
}

// The demo's read-only view of the bridges' reload queue (BullMQ, as Bull Board shows it): a step's
// count of table queries is taken once no reload job of a demo table waits, runs or waits for a
// retry, so a job the step caused is never counted in the next one; and the failing-reload step
// shows a job's failed attempts.
import type { Names } from '@pg-static-cache/protocol';
import { Queue, type Job, type JobType } from 'bullmq';
import { Redis } from 'ioredis';
import { pollUntil } from './waiting.ts';

// Every state in which a job has yet to finish (a retry waits in `delayed`).
const UNFINISHED: JobType[] = ['waiting', 'active', 'delayed', 'prioritized'];

/** One reload job, as far as the demo cares. */
export interface ReloadJobView {
  readonly id: string;
  /** `schema.name` of the table it snapshots. */
  readonly table: string;
  /** Attempts that ended (failed or, for the last one, completed). */
  readonly attemptsMade: number;
  readonly failedReason: string | undefined;
  readonly finished: boolean;
}

function viewOf(job: Job): ReloadJobView | undefined {
  const data: unknown = job.data;
  const table =
    typeof data === 'object' && data !== null && 'table' in data ? data.table : undefined;
  if (job.id === undefined || typeof table !== 'string') return undefined;
  return {
    id: job.id,
    table,
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason === '' ? undefined : job.failedReason,
    finished: job.finishedOn !== undefined,
  };
}

/**
 * Reads the reload queue of the demo's tables; adds, runs and removes nothing. Jobs of other
 * tables (the bridges relay every table with triggers on the channel) are not the demo's to wait on.
 */
export class ReloadQueueWatch {
  readonly #connection: Redis;
  readonly #queue: Queue;
  readonly #tables: ReadonlySet<string>;

  /** `tables`: the demo's tables as `schema.name`. */
  constructor(redisUrl: string, names: Names, tables: readonly string[]) {
    // One failed command must not hang the demo: fail fast, the demo's deadlines do the rest.
    this.#connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.#connection.on('error', () => undefined);
    this.#queue = new Queue(names.queue, { connection: this.#connection });
    this.#queue.on('error', () => undefined);
    this.#tables = new Set(tables);
  }

  /** The demo tables' jobs that wait, run or wait for a retry. */
  async unfinished(): Promise<ReloadJobView[]> {
    const jobs = await this.#queue.getJobs(UNFINISHED);
    return jobs.flatMap((job) => {
      const view = viewOf(job);
      return view !== undefined && this.#tables.has(view.table) ? [view] : [];
    });
  }

  /** Job `id` as it stands now (finished ones too, while the queue keeps them). */
  async job(id: string): Promise<ReloadJobView | undefined> {
    const job = await this.#queue.getJob(id);
    return job === undefined ? undefined : viewOf(job);
  }

  /** Resolves once no job of a demo table is unfinished. */
  async waitIdle(timeoutMs: number): Promise<void> {
    let last = 0;
    await pollUntil(
      () => `idle reload queue (${last} jobs unfinished)`,
      async () => {
        last = (await this.unfinished()).length;
        return last === 0 ? true : undefined;
      },
      timeoutMs,
    );
  }

  /** Closes the queue handle and its connection. Safe twice. */
  async close(): Promise<void> {
    await this.#queue.close().catch(() => undefined);
    this.#connection.disconnect();
  }
}

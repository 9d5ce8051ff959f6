import type { Logger } from 'pino';
import { BridgeError, toError } from '../errors.ts';
import type { ReloadJobData } from './reload-job.ts';
import type { ReloadQueue, ReloadTarget } from './reload-queue.ts';
import type { ReloadTrigger } from './reload-metrics.ts';
import type { ReloadWorker } from './reload-worker.ts';

/**
 * The leader's reload jobs, with a shortcut: a small table that changed (an invalidate) is
 * reloaded at once by the leader's own worker, fed directly instead of through the queue, so its
 * snapshot skips the job's add, the worker's poll and BullMQ's bookkeeping. Everything else is a
 * job as before: resyncs, tables the worker has not stored yet or stored with more than
 * `inlineReloadRows` rows, every reload when the bridge runs no worker, and an inline reload that
 * failed (the job then retries it, and Bull Board shows the failures) or found the queue paused
 * (an operator paused reloads: the job waits for the resume, and nothing is stored meanwhile).
 *
 * Per table one inline reload runs at a time; the changes that arrive meanwhile fold into exactly
 * one more, which starts after they arrived and so sees their commits (as a job deduplicated with
 * keepLastIfActive). A job of the same table (a resync's) may run beside it: the snapshot store's
 * versions settle which one is kept.
 */
export class InlineReloads implements Pick<ReloadQueue, 'add'> {
  readonly #queue: Pick<ReloadQueue, 'add'>;
  readonly #worker: () => ReloadWorker | undefined;
  readonly #log: Logger;
  // Present while a table's inline reload runs: the reload to run after it, if one was asked for.
  readonly #running = new Map<string, ReloadJobData | undefined>();

  /** `worker` is this process' worker once it started; undefined when it runs none. */
  constructor(
    queue: Pick<ReloadQueue, 'add'>,
    worker: () => ReloadWorker | undefined,
    logger: Logger,
  ) {
    this.#queue = queue;
    this.#worker = worker;
    this.#log = logger.child({ component: 'inline-reloads' });
  }

  /** Reloads `tables` for an event at `lsn`: small changed ones at once, the others by job. */
  async add(tables: readonly ReloadTarget[], lsn: string, trigger: ReloadTrigger): Promise<void> {
    const worker = this.#worker();
    const queued =
      worker === undefined || trigger !== 'invalidate'
        ? tables
        : tables.filter((table) => !this.#reloadNow(worker, table, lsn));
    if (queued.length > 0) await this.#queue.add(queued, lsn, trigger);
  }

  // True when `table` is reloaded inline: started now, or folded into the one running.
  #reloadNow(worker: ReloadWorker, table: ReloadTarget, lsn: string): boolean {
    if (!worker.canReloadNow(table.display)) return false;
    const data: ReloadJobData = { table: table.display, oid: table.oid, lsn, at: Date.now() };
    if (this.#running.has(table.display)) {
      // The newest change's LSN: read before the next reload starts, so that one holds its commit.
      this.#running.set(table.display, data);
      return true;
    }
    this.#running.set(table.display, undefined);
    void this.#run(worker, data);
    return true;
  }

  async #run(worker: ReloadWorker, first: ReloadJobData): Promise<void> {
    let next: ReloadJobData | undefined = first;
    while (next !== undefined) {
      const data: ReloadJobData = next;
      this.#running.set(data.table, undefined);
      try {
        await worker.reloadNow(data);
      } catch (error) {
        await this.#fallBack(data, toError(error));
      }
      next = this.#running.get(data.table);
    }
    this.#running.delete(first.table);
  }

  async #fallBack(data: ReloadJobData, error: Error): Promise<void> {
    // The bridge is shutting down: the next leader's takeover resync reloads every table.
    if (error instanceof BridgeError && error.code === 'CLOSED') return;
    // A paused queue is an operator's choice, not a failure: the job waits for the resume.
    if (error instanceof BridgeError && error.code === 'PAUSED') {
      this.#log.debug({ table: data.table }, 'reload queue paused; adding a job');
    } else {
      this.#log.warn({ table: data.table, err: error }, 'inline reload failed; adding a job');
    }
    try {
      await this.#queue.add([{ display: data.table, oid: data.oid }], data.lsn, 'invalidate');
    } catch (addError) {
      this.#log.error({ table: data.table, err: toError(addError) }, 'adding reload jobs failed');
    }
  }
}

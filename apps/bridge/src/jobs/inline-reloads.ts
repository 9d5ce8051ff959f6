import type { Logger } from 'pino';
import { BridgeError, toError } from '../errors.ts';
import type { ReloadJobData } from './reload-job.ts';
import type { ReloadQueue, ReloadTarget } from './reload-queue.ts';
import type { ReloadTrigger } from './reload-metrics.ts';
import type { ReloadWorker } from './reload-worker.ts';
import { FoldedFlights } from '../folded-flights.ts';

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
 * one more (FoldedFlights, as the leader's announces), which starts after they arrived and so sees
 * their commits (as a job deduplicated with keepLastIfActive). A job of the same table (a
 * resync's) may run beside it: the snapshot store's versions settle which one is kept.
 */
export class InlineReloads implements Pick<ReloadQueue, 'add'> {
  readonly #queue: Pick<ReloadQueue, 'add'>;
  readonly #worker: () => ReloadWorker | undefined;
  readonly #log: Logger;
  // Per table; a folded change carries the newest LSN, read before the next reload starts, so
  // that reload holds its commit.
  readonly #reloads = new FoldedFlights<string, ReloadJobData>(
    (_table, data) => this.#reloadNow(data),
    (error, table) => this.#log.error({ table, err: toError(error) }, 'inline reload failed'),
    (_older, newest) => newest,
  );

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
    const worker = trigger === 'invalidate' ? this.#worker() : undefined;
    const queued: ReloadTarget[] = [];
    for (const table of tables) {
      const { display, oid } = table;
      if (worker?.canReloadNow(display) === true) {
        this.#reloads.notify(display, { table: display, oid, lsn, at: Date.now() });
      } else {
        queued.push(table);
      }
    }
    if (queued.length > 0) await this.#queue.add(queued, lsn, trigger);
  }

  async #reloadNow(data: ReloadJobData): Promise<void> {
    const worker = this.#worker();
    try {
      if (worker === undefined) throw new BridgeError('CLOSED', 'the reload worker is gone');
      await worker.reloadNow(data);
    } catch (error) {
      await this.#fallBack(data, toError(error));
    }
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

import { performance } from 'node:perf_hooks';
import type { ResolvedTable } from '@pg-static-cache/postgres';
import type {
  HeartbeatMessage,
  InvalidateMessage,
  Message,
  ResyncMessage,
  ResyncReason,
} from '@pg-static-cache/protocol';
import type { Logger } from 'pino';
import { BridgeError, toError } from '../errors.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';
import type { ReloadQueue } from '../jobs/reload-queue.ts';
import type { Regions } from './regions.ts';
import type { WatchedTables } from './watched-tables.ts';

/** Messages a leader sends. */
export type LeaderMessage = InvalidateMessage | ResyncMessage | HeartbeatMessage;
type Body<M> = M extends LeaderMessage ? Omit<M, 'v' | 'seq' | 'at' | 'bridge' | 'epoch'> : never;
/** A leader message without the fields the term fills in (v, seq, at, bridge, epoch). */
export type MessageBody = Body<LeaderMessage>;
/** Fields of the status hash set together with a message. */
export type StatusFields = Readonly<Record<string, string | number>>;

/**
 * Sends one message of the current term (next seq, through the lease fence); undefined when it did
 * not go out (the term has ended, the fence dropped it, or Redis failed).
 */
export type SendMessage = (
  body: MessageBody,
  status?: StatusFields,
) => Promise<Message | undefined>;

/** Awaited after each publish, side by side with the reload jobs. Errors are logged, never thrown. */
export interface BridgeHooks {
  /**
   * After each invalidate is published, with the watched table the changed relation belongs to
   * (the relation itself when it is not part of a watched table).
   */
  readonly onInvalidate?: (
    message: InvalidateMessage,
    table: ResolvedTable,
  ) => void | Promise<void>;
  /** After each resync is published (its `tables`, or all when absent). */
  readonly onResync?: (message: ResyncMessage) => void | Promise<void>;
}

/** What publishing a change involves besides the message itself; the same for every term. */
export interface PublishingParts {
  /** LSN reads on the notification path. */
  readonly lsn: { read(): Promise<string> };
  readonly watched: Pick<WatchedTables, 'watchedOf' | 'resyncTargets'>;
  /** The reload queue; undefined when jobs are off. */
  readonly reloads: Pick<ReloadQueue, 'add'> | undefined;
  /** The other regions: their reload jobs are added in the background, never awaited. */
  readonly regions: Pick<Regions, 'addJobs'>;
  readonly hooks: BridgeHooks;
  readonly metrics: Pick<BridgeMetrics, 'lag'>;
}

/**
 * Publishing a change, in order: the message goes out first, then the reload jobs it calls for
 * (and the hooks), awaited, so a table's next invalidate (folded behind this one, see
 * FoldedFlights) waits for this one's jobs: a burst has at most one job add in flight per
 * table, and deduplication one job waiting. An invalidate adds a job for its watched table; a
 * resync (takeover, reconnect, manual, drift) one for every table it covers, because a resync says
 * events may have been lost and snapshots may be missing their changes too.
 */
export class Publisher {
  readonly #send: SendMessage;
  readonly #parts: PublishingParts;
  readonly #log: Logger;
  readonly #onAnnounced: (table: ResolvedTable) => void;

  /** `onAnnounced` hears of each watched table an invalidate went out for. */
  constructor(
    send: SendMessage,
    parts: PublishingParts,
    logger: Logger,
    onAnnounced: (table: ResolvedTable) => void,
  ) {
    this.#send = send;
    this.#parts = parts;
    this.#log = logger;
    this.#onAnnounced = onAnnounced;
  }

  /** Publishes `invalidate` for `table` with an LSN read now; `arrivedAt` (performance.now) feeds the lag histogram. */
  async invalidate(
    table: ResolvedTable,
    arrivedAt?: number,
  ): Promise<InvalidateMessage | undefined> {
    const { lsn, watched, reloads, regions, hooks, metrics } = this.#parts;
    const message = await this.#send({
      type: 'invalidate',
      table: table.display,
      oid: table.oid,
      lsn: await lsn.read(),
    });
    if (message?.type !== 'invalidate') return undefined;
    if (arrivedAt !== undefined) metrics.lag.observe((performance.now() - arrivedAt) / 1000);
    const target = watched.watchedOf(table.oid) ?? table;
    this.#onAnnounced(target);
    if (reloads !== undefined) regions.addJobs([target], message.lsn, 'invalidate');
    await Promise.all([
      this.#step('adding reload jobs', { table: target.display }, () =>
        reloads?.add([target], message.lsn, 'invalidate'),
      ),
      this.#step('onInvalidate hook', { table: target.display }, () =>
        hooks.onInvalidate?.(message, target),
      ),
    ]);
    return message;
  }

  /** Publishes a resync (of `tables`, or all); throws BridgeError NOT_LEADER when it did not go out. */
  async resync(
    reason: ResyncReason,
    tables?: readonly string[],
    status: StatusFields = {},
  ): Promise<ResyncMessage> {
    const message = await this.#send(
      { type: 'resync', reason, ...(tables === undefined ? {} : { tables: [...tables] }) },
      { ...status, lastResyncAt: Date.now(), lastResyncReason: reason },
    );
    if (message?.type !== 'resync') {
      throw new BridgeError('NOT_LEADER', `resync (${reason}) not published: not leading`);
    }
    const { reloads, regions, hooks } = this.#parts;
    await Promise.all([
      this.#step('adding reload jobs', { reason }, async () => {
        if (reloads === undefined) return;
        const targets = await this.#parts.watched.resyncTargets(message.tables);
        if (targets.length === 0) return;
        const lsn = await this.#parts.lsn.read();
        regions.addJobs(targets, lsn, 'resync');
        await reloads.add(targets, lsn, 'resync');
      }),
      this.#step('onResync hook', { reason }, () => hooks.onResync?.(message)),
    ]);
    return message;
  }

  // One step after a publish: its failure is logged and stops neither the other steps nor the caller.
  async #step(what: string, fields: object, run: () => unknown): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.#log.error({ ...fields, err: toError(error) }, `${what} failed`);
    }
  }
}

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  ListenConnection,
  type ListenStatus,
  type Notification,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { BridgeContext } from './context.ts';
import { BridgeError, toError } from './errors.ts';
import { LeaderTerm } from './leader-term.ts';
import { TableInvalidations } from './table-invalidations.ts';

// Payloads are bare table OIDs (as Sequel's triggers send them); a shared channel may carry other
// traffic, which is dropped, never trusted.
const OID = /^[1-9][0-9]{0,9}$/;

/** Typed events of {@link Leadership}. */
export interface LeadershipEvents {
  /** A term began: its resync (seq 0) is on its way. */
  term: [LeaderTerm, 'takeover' | 'reconnect'];
  /** Leadership is over (lock lost or lease lost); the LISTEN session is closed. */
  ended: [{ readonly reason: string }];
}

function isLockRefused(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return [error, cause].some((e) => e instanceof BridgeError && e.code === 'LOCK_NOT_GRANTED');
}

/**
 * Being the leader: a LISTEN session that holds the leader lock (taken in `onConnect`, before
 * LISTEN, on every new session), so losing the session loses the lock and the listening together.
 * Each session is one {@link LeaderTerm}. When ListenConnection reconnects by itself and the lock
 * is still free, a new term (new epoch) begins with a `reconnect` resync; when the lock is gone,
 * leadership ends.
 */
export class Leadership extends EventEmitter<LeadershipEvents> {
  readonly #ctx: BridgeContext;
  readonly #listen: ListenConnection;
  readonly #log: BridgeContext['logger'];
  readonly #invalidations: TableInvalidations;
  #backendPid: number | undefined;
  #term: LeaderTerm | undefined;
  #generation = 0;
  #epochFloor: number;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;

  private constructor(ctx: BridgeContext, epochFloor: number) {
    super();
    this.#ctx = ctx;
    this.#epochFloor = epochFloor;
    this.#log = ctx.logger.child({ component: 'leadership' });
    this.#invalidations = new TableInvalidations(
      (oid, arrivedAt) => this.#announce(oid, arrivedAt),
      (error, oid) => this.#log.error({ err: toError(error), oid }, 'announcing a change failed'),
    );
    const { config } = ctx;
    this.#listen = new ListenConnection({
      connection: {
        connectionString: config.databaseUrl,
        application_name: config.applicationName,
      },
      channels: [config.channel],
      heartbeatIntervalMs: config.listenHeartbeatIntervalMs,
      heartbeatTimeoutMs: config.listenHeartbeatTimeoutMs,
      onConnect: (client) => this.#lock(client),
    });
    this.#listen.on('notification', (notification) => this.#onNotification(notification));
    this.#listen.on('ready', ({ reconnect }) => this.#onReady(reconnect));
    this.#listen.on('disconnect', ({ error }) => this.#onDisconnect(error));
  }

  /**
   * Opens a LISTEN session holding the leader lock; undefined when another session holds the lock.
   * The first term begins in the background (see the `term` event). Other failures reject.
   */
  static async acquire(ctx: BridgeContext, epochFloor: number): Promise<Leadership | undefined> {
    const leadership = new Leadership(ctx, epochFloor);
    try {
      await leadership.#listen.start();
    } catch (error) {
      leadership.#closed = true;
      if (isLockRefused(error)) return undefined;
      throw error;
    }
    return leadership;
  }

  /** The current term; undefined while one is being set up or after the session was lost. */
  get term(): LeaderTerm | undefined {
    return this.#term;
  }

  /** Status of the LISTEN session. */
  get listenStatus(): ListenStatus {
    return this.#listen.status;
  }

  /** Lowest epoch a later term of this bridge may take. */
  get epochFloor(): number {
    return this.#epochFloor;
  }

  /** Ends the term (deleting the lease if ours) and the session, which releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation += 1;
    clearTimeout(this.#retryTimer);
    this.#invalidations.close();
    const term = this.#term;
    this.#term = undefined;
    // Lease first, then the session: a standby sees no lease and a free lock, and leads at its next poll.
    await term?.end(true);
    await this.#listen.close();
  }

  async #stepDown(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#log.warn({ reason }, 'stepping down');
    await this.close();
    this.emit('ended', { reason });
  }

  async #lock(client: pg.Client): Promise<void> {
    const { lock, config } = this.#ctx;
    let pid = await lock.tryAcquire(client);
    const previous = this.#backendPid;
    if (pid === undefined && previous !== undefined && (await lock.holder(client)) === previous) {
      // Our own previous session still holds the lock (its socket went half-open, so Postgres has
      // not noticed it is gone): end it rather than make standbys wait leaseMs to fence it.
      this.#log.warn(
        { pid: previous },
        'terminating our previous LISTEN session, which still holds the lock',
      );
      await lock.terminate(client, previous, Math.min(config.leaseMs, 5_000));
      pid = await lock.tryAcquire(client);
    }
    if (pid === undefined) {
      throw new BridgeError('LOCK_NOT_GRANTED', 'the leader lock is held by another session');
    }
    this.#backendPid = pid;
  }

  #onReady(reconnect: boolean): void {
    if (reconnect) {
      this.#ctx.metrics.listenReconnects.inc();
      this.#log.info(
        { backendPid: this.#backendPid },
        'LISTEN session re-established with the lock',
      );
    }
    void this.#beginTerm(reconnect ? 'reconnect' : 'takeover');
  }

  async #beginTerm(reason: 'takeover' | 'reconnect'): Promise<void> {
    const generation = ++this.#generation;
    const backendPid = this.#backendPid;
    const current = (): boolean => !this.#closed && generation === this.#generation;
    if (backendPid === undefined) return;
    while (current()) {
      try {
        const term = await LeaderTerm.begin(this.#ctx, backendPid, this.#epochFloor);
        this.#epochFloor = Math.max(this.#epochFloor, term.epoch + 1);
        if (!current()) {
          await term.end(true);
          return;
        }
        this.#term = term;
        term.open(reason, (why) => void this.#stepDown(why));
        this.emit('term', term, reason);
        return;
      } catch (error) {
        // Redis is unreachable: keep the lock and retry; if Redis is reachable for others but not
        // for us, they see no lease and fence this session after leaseMs, which is right.
        this.#log.warn({ err: toError(error) }, 'cannot begin a leadership term; retrying');
        await new Promise<void>((resolve) => {
          this.#retryTimer = setTimeout(resolve, this.#ctx.config.renewMs);
        });
      }
    }
  }

  #onDisconnect(error: Error): void {
    this.#generation += 1;
    const term = this.#term;
    this.#term = undefined;
    // Not listening means not leading: no heartbeat may claim otherwise. The lease goes too, so
    // status shows no leader while the session is being re-established.
    void term?.end(true);
    if (isLockRefused(error)) {
      void this.#stepDown('the leader lock was taken while the LISTEN session was reconnecting');
      return;
    }
    this.#log.warn({ err: error }, 'LISTEN session lost; reconnecting');
  }

  #onNotification({ payload }: Notification): void {
    const arrivedAt = performance.now();
    const { metrics } = this.#ctx;
    metrics.notifications.inc();
    if (!OID.test(payload)) {
      metrics.notificationsDropped.inc({ reason: 'not-an-oid' });
      this.#log.warn(
        { payload: payload.slice(0, 80) },
        'notification payload is not a table OID: dropped',
      );
      return;
    }
    // Before the term's opening resync is sent, a notification is covered by that resync.
    const term = this.#term;
    if (term === undefined || term.ended) {
      metrics.notificationsDropped.inc({ reason: 'no-term' });
      return;
    }
    // Folded per table, so a burst costs one running and one pending announce per table.
    if (this.#invalidations.notify(Number(payload), arrivedAt) === 'folded') {
      metrics.notificationsFolded.inc();
    }
  }

  // One table's invalidate, in the term current when it starts: a term begun since the
  // notification arrived opened with a resync, which covers it as well.
  async #announce(oid: number, arrivedAt: number): Promise<void> {
    const { metrics, tables } = this.#ctx;
    const term = this.#term;
    if (term === undefined || term.ended) {
      metrics.notificationsDropped.inc({ reason: 'no-term' });
      return;
    }
    let table: ResolvedTable | undefined;
    try {
      table = await tables.resolve(oid);
      if (table === undefined) {
        metrics.notificationsDropped.inc({ reason: 'unknown-table' });
        return;
      }
      await term.invalidate(table, arrivedAt);
    } catch (error) {
      // Postgres failed between the notification and its invalidate. The event must not be lost,
      // so clients reload (the table, or everything when even the table is unknown).
      this.#log.warn({ err: toError(error), oid }, 'cannot announce a change; sending a resync');
      await term
        .resync('reconnect', table === undefined ? undefined : [table.display])
        .catch(() => undefined);
    }
  }
}

import { EventEmitter } from 'node:events';
import { ListenConnection, type ListenStatus } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Announcer } from '../publishing/announcer.ts';
import type { BridgeConfig } from '../config.ts';
import { BridgeError, toError } from '../errors.ts';
import type { LeaderLock } from './leader-lock.ts';
import type { LeaderTerm } from './leader-term.ts';
import type { LeadershipStatus, TermReason } from './leadership-state.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';

/** Typed events of {@link Leadership}. */
export interface LeadershipEvents {
  /** Leadership is over (lock lost or lease lost); the LISTEN session is closed. */
  ended: [{ readonly reason: string }];
}

/** What a {@link Leadership} needs. */
export interface LeadershipParts {
  readonly config: Pick<
    BridgeConfig,
    | 'databaseUrl'
    | 'applicationName'
    | 'channel'
    | 'listenHeartbeatIntervalMs'
    | 'listenHeartbeatTimeoutMs'
    | 'leaseMs'
    | 'renewMs'
  >;
  readonly lock: LeaderLock;
  /** The bridge's leadership state: this session moves it between its two leading states. */
  readonly status: LeadershipStatus;
  /** Begins a term on the session holding the lock (takes the next epoch and the lease). */
  readonly beginTerm: (backendPid: number, epochFloor: number) => Promise<LeaderTerm>;
  /** Makes the announcer of this session's notifications. */
  readonly announcer: () => Announcer;
  readonly metrics: Pick<BridgeMetrics, 'listenReconnects'>;
  readonly logger: Logger;
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
  readonly #parts: LeadershipParts;
  readonly #listen: ListenConnection;
  readonly #log: Logger;
  readonly #announcer: Announcer;
  #backendPid: number | undefined;
  #generation = 0;
  #epochFloor: number;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;

  private constructor(parts: LeadershipParts, epochFloor: number) {
    super();
    this.#parts = parts;
    this.#epochFloor = epochFloor;
    this.#log = parts.logger.child({ component: 'leadership' });
    this.#announcer = parts.announcer();
    const { config } = parts;
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
    this.#listen.on('notification', ({ payload }) => this.#announcer.notify(payload));
    this.#listen.on('ready', ({ reconnect }) => this.#onReady(reconnect));
    this.#listen.on('disconnect', ({ error }) => this.#onDisconnect(error));
  }

  /**
   * Opens a LISTEN session holding the leader lock; undefined when another session holds the lock.
   * The first term begins in the background (the state becomes `leading`). Other failures reject.
   */
  static async acquire(
    parts: LeadershipParts,
    epochFloor: number,
  ): Promise<Leadership | undefined> {
    const leadership = new Leadership(parts, epochFloor);
    try {
      await leadership.#listen.start();
    } catch (error) {
      leadership.#closed = true;
      leadership.#announcer.close();
      if (isLockRefused(error)) return undefined;
      throw error;
    }
    return leadership;
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
    this.#announcer.close();
    const term = this.#leaveTerm();
    // Lease first, then the session: a standby sees no lease and a free lock, and leads at its next poll.
    await term?.end(true);
    await this.#listen.close();
  }

  // The state without a term (the session holds or is getting back the lock); the term it had.
  #leaveTerm(): LeaderTerm | undefined {
    const { status } = this.#parts;
    const term = status.term;
    if (this.#backendPid !== undefined) {
      status.setState({ kind: 'leading-without-term', backendPid: this.#backendPid });
    }
    return term;
  }

  async #stepDown(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#log.warn({ reason }, 'stepping down');
    await this.close();
    this.emit('ended', { reason });
  }

  async #lock(client: pg.Client): Promise<void> {
    const { lock, config } = this.#parts;
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
      this.#parts.metrics.listenReconnects.inc();
      this.#log.info(
        { backendPid: this.#backendPid },
        'LISTEN session re-established with the lock',
      );
    }
    this.#leaveTerm();
    void this.#beginTerm(reconnect ? 'reconnect' : 'takeover');
  }

  async #beginTerm(reason: TermReason): Promise<void> {
    const generation = ++this.#generation;
    const backendPid = this.#backendPid;
    const current = (): boolean => !this.#closed && generation === this.#generation;
    if (backendPid === undefined) return;
    while (current()) {
      try {
        const term = await this.#parts.beginTerm(backendPid, this.#epochFloor);
        this.#epochFloor = Math.max(this.#epochFloor, term.epoch + 1);
        if (!current()) {
          await term.end(true);
          return;
        }
        // Opened first: once the state says `leading`, its resync (seq 0) is on its way.
        term.open(reason, (why) => void this.#stepDown(why));
        this.#parts.status.setState({ kind: 'leading', term, reason });
        return;
      } catch (error) {
        // Redis is unreachable: keep the lock and retry; if Redis is reachable for others but not
        // for us, they see no lease and fence this session after leaseMs, which is right.
        this.#log.warn({ err: toError(error) }, 'cannot begin a leadership term; retrying');
        await new Promise<void>((resolve) => {
          this.#retryTimer = setTimeout(resolve, this.#parts.config.renewMs);
        });
      }
    }
  }

  #onDisconnect(error: Error): void {
    this.#generation += 1;
    // Not listening means not leading: no heartbeat may claim otherwise. The lease goes too, so
    // status shows no leader while the session is being re-established.
    void this.#leaveTerm()?.end(true);
    if (isLockRefused(error)) {
      void this.#stepDown('the leader lock was taken while the LISTEN session was reconnecting');
      return;
    }
    this.#log.warn({ err: error }, 'LISTEN session lost; reconnecting');
  }
}

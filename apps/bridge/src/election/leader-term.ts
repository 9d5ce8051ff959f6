import { hostname } from 'node:os';
import { FailureStreak, type ResolvedTable } from '@pg-static-cache/postgres';
import {
  serializeMessage,
  Signer,
  type InvalidateMessage,
  type Message,
  type Names,
  type ResyncMessage,
  type ResyncReason,
} from '@pg-static-cache/protocol';
import type { RedisClient } from '../connections/redis-connection.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import { triggerOptionsOf, type BridgeConfig } from '../config.ts';
import { BridgeError, toError } from '../errors.ts';
import type { TermReason } from './leadership-state.ts';
import { nextEpoch, TermLease, type PublishResult } from './lease.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';
import type { Presence } from './presence.ts';
import {
  Publisher,
  type MessageBody,
  type PublishingParts,
  type StatusFields,
} from '../publishing/publisher.ts';
import type { Regions } from '../publishing/regions.ts';
import { ScheduledResync, type ResyncReport } from '../resync/scheduled-resync.ts';
import { TermHealth } from './term-health.ts';
import { tablesStatus, type WatchedTables } from '../publishing/watched-tables.ts';

/** The settings a term reads. */
export type TermConfig = Pick<
  BridgeConfig,
  | 'bridgeId'
  | 'leaseMs'
  | 'renewMs'
  | 'heartbeatMs'
  | 'channel'
  | 'functionName'
  | 'triggerName'
  | 'signingKeys'
  | 'resyncSchedule'
>;

/** What a {@link LeaderTerm} needs: the same for every term of a bridge. */
export interface TermParts extends PublishingParts {
  /** The other regions: each message that went out at home is forwarded to them. */
  readonly regions: Pick<Regions, 'addJobs' | 'forward' | 'report' | 'size'>;
  readonly config: TermConfig;
  /** Commands connection: the epoch counter, the lease and its fence, the status hash. */
  readonly redis: RedisClient;
  readonly names: Names;
  readonly presence: Pick<Presence, 'write'>;
  readonly metrics: BridgeMetrics;
  readonly logger: Logger;
  readonly watched: WatchedTables;
  /** Sessions for the scheduled resync's trigger checks and digests. */
  readonly pool: pg.Pool;
  /** Hears of every message that went out. */
  readonly onPublished: (message: Message) => void;
  /** Hears of each scheduled resync report. */
  readonly onReport: (report: ResyncReport) => void;
}

function pairs(fields: StatusFields): [string, string][] {
  return Object.entries(fields).map(([field, value]) => [field, String(value)]);
}

/**
 * One leadership term: one epoch on one lock-holding LISTEN session. Owns the lease (renewed
 * every renewMs), the seq counter shared by all its messages, the heartbeat, and the scheduled
 * resync; what publishing a change involves besides the message is the {@link Publisher}'s. Every
 * publish goes through the lease fence; a lost lease ends the term via `onLost`.
 */
export class LeaderTerm {
  /** Epoch of this term: higher than any before it. */
  readonly epoch: number;
  /** Backend pid of the LISTEN session holding the leader lock. */
  readonly backendPid: number;
  /** When the term began (ms since the Unix epoch). */
  readonly since = Date.now();
  /** Whether this term's publishes and lease renewals go through (what /readyz reports). */
  readonly health: TermHealth;
  readonly #parts: TermParts;
  readonly #lease: TermLease;
  readonly #log: Logger;
  readonly #signer: Signer;
  readonly #publisher: Publisher;
  readonly #renewals: FailureStreak<Error>;
  readonly #publishes: FailureStreak<{
    readonly err: Error;
    readonly type: string;
    readonly seq: number;
  }>;
  #seq = 0;
  #ended = false;
  #onLost: ((reason: string) => void) | undefined;
  #timers: NodeJS.Timeout[] = [];
  #renewing = false;
  /**
   * A message of this term was dropped (lease missing after a Redis restart, or Redis failing).
   * Clients usually see the seq gap, but one that (re)subscribed just then takes its first message
   * as the start and cannot: so a resync goes out as soon as publishing works again.
   */
  #owesResync = false;
  #resync: ScheduledResync | undefined;

  private constructor(parts: TermParts, lease: TermLease, epoch: number, backendPid: number) {
    this.#parts = parts;
    this.#lease = lease;
    this.epoch = epoch;
    this.backendPid = backendPid;
    const log = parts.logger.child({ component: 'leader', epoch });
    this.#log = log;
    this.#signer = new Signer(parts.config.signingKeys);
    // Heartbeats publish every heartbeatMs: three missed in a row without even an error is a
    // Redis that does not answer.
    const { heartbeatMs, renewMs } = parts.config;
    this.health = new TermHealth(parts.metrics, 3 * Math.max(heartbeatMs, renewMs), this.since);
    this.#publisher = new Publisher(
      (body, status) => this.publish(body, status),
      parts,
      log,
      (table) => this.#resync?.noteAnnounced(table),
    );
    // Redis being down would otherwise log every renewMs, and every message.
    this.#renewals = new FailureStreak({
      started: (error) => log.warn({ err: error }, 'lease renewal failed'),
      ended: () => log.info('lease renewal works again'),
    });
    this.#publishes = new FailureStreak({
      started: (failure) => log.warn(failure, 'publish failed'),
      ended: () => log.info('publishes go through again'),
    });
  }

  /** Takes the next epoch (never below `floor`) and the lease; call only while holding the lock. */
  static async begin(parts: TermParts, backendPid: number, floor: number): Promise<LeaderTerm> {
    const { redis, names, config } = parts;
    const epoch = await nextEpoch(redis, names, floor);
    const identity = { bridge: config.bridgeId, epoch, backendPid };
    const lease = new TermLease(redis, names, identity, config.leaseMs);
    await lease.claim();
    return new LeaderTerm(parts, lease, epoch, backendPid);
  }

  /** True once the term has ended (lease lost, session lost, step-down or close). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Starts renewing and heart-beating and publishes the term's first message (seq 0), a resync:
   * whatever happened while no term was publishing is reloaded by every client.
   */
  open(reason: TermReason, onLost: (reason: string) => void): void {
    const { config } = this.#parts;
    this.#onLost = onLost;
    const now = Date.now();
    void this.resync(reason, undefined, {
      bridge: config.bridgeId,
      epoch: this.epoch,
      backendPid: this.backendPid,
      pid: process.pid,
      host: hostname(),
      leaderSince: this.since,
      leaseMs: config.leaseMs,
      heartbeatMs: config.heartbeatMs,
      lastHeartbeatAt: now,
      ...this.#regionStatus(),
      // So that `status` checks the triggers under this bridge's names without being told them.
      channel: config.channel,
      ...(config.functionName === undefined ? {} : { functionName: config.functionName }),
      ...(config.triggerName === undefined ? {} : { triggerName: config.triggerName }),
    }).catch(() => undefined);
    this.#timers.push(
      setInterval(() => void this.#renew(), config.renewMs),
      setInterval(() => void this.#heartbeat(), config.heartbeatMs),
    );
    void this.#parts.presence.write('leader', this.epoch).catch(() => undefined);
    this.#log.info({ reason, backendPid: this.backendPid }, 'leading');
    this.#startScheduledResync();
  }

  /** Publishes `invalidate` for `table` and its reload job (see Publisher.invalidate). */
  invalidate(table: ResolvedTable, arrivedAt?: number): Promise<InvalidateMessage | undefined> {
    return this.#publisher.invalidate(table, arrivedAt);
  }

  /** Publishes a resync and its reload jobs; throws BridgeError NOT_LEADER when it did not go out. */
  resync(
    reason: ResyncReason,
    tables?: readonly string[],
    status: StatusFields = {},
  ): Promise<ResyncMessage> {
    return this.#publisher.resync(reason, tables, status);
  }

  /**
   * Publishes one message with the next seq. The seq is taken and the EVALSHA sent in the same
   * tick, so messages reach Redis in seq order (one connection, commands in order). Returns
   * undefined when the term has ended, the fence dropped it, or Redis failed (a seq gap clients
   * will answer with a resync).
   */
  async publish(body: MessageBody, status: StatusFields = {}): Promise<Message | undefined> {
    const { metrics, names, config } = this.#parts;
    if (this.#ended) {
      if (body.type === 'invalidate') metrics.notificationsDropped.inc({ reason: 'no-term' });
      return undefined;
    }
    const message = {
      v: 1,
      ...body,
      seq: this.#seq,
      at: Date.now(),
      bridge: config.bridgeId,
      epoch: this.epoch,
    } as const satisfies Message;
    this.#seq += 1;
    const text = serializeMessage(message, this.#signer);
    let result: PublishResult;
    try {
      result = await this.#lease.publish(names.events, text, pairs(status));
    } catch (error) {
      this.health.publishFailed(toError(error));
      this.#owesResync = true;
      this.#publishes.fail({ err: toError(error), type: message.type, seq: message.seq });
      return undefined;
    }
    this.#publishes.succeed();
    if (result !== 'published') {
      metrics.fenced.inc({ reason: result });
      this.health.publishFenced(result);
      const { type, seq } = message;
      if (result === 'lease-taken') {
        this.#log.warn({ type, seq }, 'publish fenced: the lease belongs to another term');
        this.#lose('lease taken by another bridge (publish fenced)');
      } else {
        // Redis lost the lease (a restart): no reason to step down. The dropped message leaves a
        // seq gap, which clients answer with a resync; renewing now restores the lease.
        this.#log.warn({ type, seq }, 'publish fenced: the lease is missing; renewing it');
        this.#owesResync = true;
        void this.#renew();
      }
      return undefined;
    }
    // Only now, and in seq order (replies come back in the order the EVALSHAs went out): a region
    // hears only what the home fence let through, so a deposed leader publishes nowhere.
    this.#parts.regions.forward(message, text);
    this.health.published();
    metrics.countPublished(message);
    this.#parts.onPublished(message);
    return message;
  }

  /** Stops timers and the scheduled resync; with `release`, deletes the lease if it is still ours. */
  async end(release: boolean): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    const resync = this.#resync;
    this.#resync = undefined;
    await Promise.all([
      Promise.resolve(resync?.close()).catch((error: unknown) =>
        this.#log.warn({ err: toError(error) }, 'closing the scheduled resync failed'),
      ),
      release ? this.#lease.release().catch(() => false) : false,
    ]);
    this.#log.info('term ended');
  }

  #lose(reason: string): void {
    const onLost = this.#onLost;
    this.#onLost = undefined;
    onLost?.(reason);
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#ended) return;
    this.#renewing = true;
    try {
      const result = await this.#lease.renew();
      this.health.renewed();
      this.#renewals.succeed();
      if (result === 'lost') {
        this.#lose('lease taken by another bridge');
        return;
      }
      if (result === 'recreated') this.#log.warn('lease was missing (Redis restarted?): recreated');
      if (this.#owesResync) {
        this.#owesResync = false;
        await this.resync('reconnect').catch(() => {
          this.#owesResync = true;
        });
      }
    } catch (error) {
      this.health.renewFailed(toError(error));
      this.#renewals.fail(toError(error));
    } finally {
      this.#renewing = false;
    }
  }

  async #heartbeat(): Promise<void> {
    await this.publish(
      { type: 'heartbeat' },
      { lastHeartbeatAt: Date.now(), ...this.#regionStatus() },
    );
    await this.#parts.presence.write('leader', this.epoch).catch(() => undefined);
  }

  // The `regions` field of the status hash, refreshed with every heartbeat.
  #regionStatus(): StatusFields {
    const { regions } = this.#parts;
    return regions.size === 0 ? {} : { regions: JSON.stringify(regions.report()) };
  }

  #startScheduledResync(): void {
    const { pool, watched, config, logger } = this.#parts;
    const resync = new ScheduledResync({
      pool,
      tables: async () => (await watched.discover()).tables,
      watched: () => watched.watchedTables(),
      publish: async (message) => {
        if (message.type === 'invalidate') {
          if ((await this.invalidate(message.table)) === undefined) {
            throw new BridgeError('NOT_LEADER', 'invalidate not published: not leading');
          }
        } else {
          await this.resync(message.reason, message.tables);
        }
      },
      triggerOptions: triggerOptionsOf(config),
      schedule: config.resyncSchedule,
      logger: logger.child({ epoch: this.epoch }),
      onReport: (report) => this.#onReport(report),
    });
    this.#resync = resync;
    resync.start();
    // Primes the OID cache (no catalog query on the first event of a watched table) and the
    // status hash; the scheduled run repeats both.
    void watched
      .discover()
      .then(({ reports }) => this.#lease.setStatus(pairs({ tables: tablesStatus(reports) })))
      .catch((error: unknown) =>
        this.#log.warn({ err: toError(error) }, 'discovering watched tables failed'),
      );
  }

  #onReport(report: ResyncReport): void {
    const { metrics } = this.#parts;
    metrics.resyncRuns.inc();
    metrics.drift.inc(report.drifted);
    const tables = report.tables.map((t) => ({
      table: t.table,
      state: t.trigger.state,
      ok: t.trigger.ok,
    }));
    void this.#lease
      .setStatus(
        pairs({
          tables: tablesStatus(tables),
          triggersOk: String(report.triggersOk),
          lastCheckAt: report.at,
          lastDrifted: report.drifted,
        }),
      )
      .catch(() => undefined);
    this.#parts.onReport(report);
  }
}

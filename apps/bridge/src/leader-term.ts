import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ResolvedTable } from '@pg-static-cache/postgres';
import {
  serializeMessage,
  Signer,
  type HeartbeatMessage,
  type InvalidateMessage,
  type Message,
  type ResyncMessage,
  type ResyncReason,
} from '@pg-static-cache/protocol';
import type { BridgeContext } from './context.ts';
import { BridgeError, toError } from './errors.ts';
import { nextEpoch, TermLease, type PublishResult } from './lease.ts';
import { ScheduledResync, type ResyncReport } from './scheduled-resync.ts';
import { TermHealth } from './term-health.ts';
import { discoverTables, tablesStatus } from './watched-tables.ts';

/** Messages a leader sends. */
export type LeaderMessage = InvalidateMessage | ResyncMessage | HeartbeatMessage;
type Body<M> = M extends LeaderMessage ? Omit<M, 'v' | 'seq' | 'at' | 'bridge' | 'epoch'> : never;
/** A leader message without the fields the term fills in (v, seq, at, bridge, epoch). */
export type MessageBody = Body<LeaderMessage>;
type StatusFields = Readonly<Record<string, string | number>>;

function pairs(fields: StatusFields): [string, string][] {
  return Object.entries(fields).map(([field, value]) => [field, String(value)]);
}

/**
 * One leadership term: one epoch on one lock-holding LISTEN session. Owns the lease (renewed
 * every renewMs), the seq counter shared by all its messages, the heartbeat, and the scheduled
 * resync. Every publish goes through the lease fence; a lost lease ends the term via `onLost`.
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
  readonly #ctx: BridgeContext;
  readonly #lease: TermLease;
  readonly #log: BridgeContext['logger'];
  readonly #signer: Signer;
  #seq = 0;
  #ended = false;
  #onLost: ((reason: string) => void) | undefined;
  #timers: NodeJS.Timeout[] = [];
  #renewing = false;
  #renewFailing = false;
  /**
   * A message of this term was dropped (lease missing after a Redis restart, or Redis failing).
   * Clients usually see the seq gap, but one that (re)subscribed just then takes its first message
   * as the start and cannot: so a resync goes out as soon as publishing works again.
   */
  #owesResync = false;
  #resync: ScheduledResync | undefined;

  private constructor(ctx: BridgeContext, lease: TermLease, epoch: number, backendPid: number) {
    this.#ctx = ctx;
    this.#lease = lease;
    this.epoch = epoch;
    this.backendPid = backendPid;
    this.#log = ctx.logger.child({ component: 'leader', epoch });
    this.#signer = new Signer(ctx.config.signingKeys);
    // Heartbeats publish every heartbeatMs: three missed in a row without even an error is a
    // Redis that does not answer.
    const { heartbeatMs, renewMs } = ctx.config;
    this.health = new TermHealth(ctx.metrics, 3 * Math.max(heartbeatMs, renewMs), this.since);
  }

  /** Takes the next epoch (never below `floor`) and the lease; call only while holding the lock. */
  static async begin(ctx: BridgeContext, backendPid: number, floor: number): Promise<LeaderTerm> {
    const epoch = await nextEpoch(ctx.redis, ctx.names, floor);
    const lease = new TermLease(
      ctx.redis,
      ctx.names,
      { bridge: ctx.config.bridgeId, epoch, backendPid },
      ctx.config.leaseMs,
    );
    await lease.claim();
    return new LeaderTerm(ctx, lease, epoch, backendPid);
  }

  /** True once the term has ended (lease lost, session lost, step-down or close). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Starts renewing and heart-beating and publishes the term's first message (seq 0), a resync:
   * whatever happened while no term was publishing is reloaded by every client.
   */
  open(reason: 'takeover' | 'reconnect', onLost: (reason: string) => void): void {
    const { config } = this.#ctx;
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
      // So that `status` checks the triggers under this bridge's names without being told them.
      channel: config.channel,
      ...(config.functionName === undefined ? {} : { functionName: config.functionName }),
      ...(config.triggerName === undefined ? {} : { triggerName: config.triggerName }),
    }).catch(() => undefined);
    this.#timers.push(
      setInterval(() => void this.#renew(), config.renewMs),
      setInterval(() => void this.#heartbeat(), config.heartbeatMs),
    );
    void this.#ctx.presence.write('leader', this.epoch).catch(() => undefined);
    this.#log.info({ reason, backendPid: this.backendPid }, 'leading');
    this.#startScheduledResync();
  }

  /** Publishes `invalidate` for `table` with an LSN read now; `arrivedAt` (performance.now) feeds the lag histogram. */
  async invalidate(
    table: ResolvedTable,
    arrivedAt?: number,
  ): Promise<InvalidateMessage | undefined> {
    const lsn = await this.#ctx.lsn.read();
    const message = await this.publish({
      type: 'invalidate',
      table: table.display,
      oid: table.oid,
      lsn,
    });
    if (message?.type !== 'invalidate') return undefined;
    if (arrivedAt !== undefined) {
      this.#ctx.metrics.lag.observe((performance.now() - arrivedAt) / 1000);
    }
    const watched = this.#ctx.tables.watchedOf(table.oid) ?? table;
    this.#resync?.noteAnnounced(watched);
    try {
      await this.#ctx.hooks.onInvalidate?.(message, watched);
    } catch (error) {
      this.#log.error({ err: toError(error), table: watched.display }, 'onInvalidate hook failed');
    }
    return message;
  }

  /** Publishes a resync (of `tables`, or all); throws BridgeError NOT_LEADER when it did not go out. */
  async resync(
    reason: ResyncReason,
    tables?: readonly string[],
    status: StatusFields = {},
  ): Promise<ResyncMessage> {
    const message = await this.publish(
      { type: 'resync', reason, ...(tables === undefined ? {} : { tables: [...tables] }) },
      { ...status, lastResyncAt: Date.now(), lastResyncReason: reason },
    );
    if (message?.type !== 'resync') {
      throw new BridgeError('NOT_LEADER', `resync (${reason}) not published: not leading`);
    }
    try {
      await this.#ctx.hooks.onResync?.(message);
    } catch (error) {
      this.#log.error({ err: toError(error), reason }, 'onResync hook failed');
    }
    return message;
  }

  /**
   * Publishes one message with the next seq. The seq is taken and the EVALSHA sent in the same
   * tick, so messages reach Redis in seq order (one connection, commands in order). Returns
   * undefined when the term has ended, the fence dropped it, or Redis failed (a seq gap clients
   * will answer with a resync).
   */
  async publish(body: MessageBody, status: StatusFields = {}): Promise<Message | undefined> {
    const { metrics, names, config } = this.#ctx;
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
      this.#log.warn(
        { err: toError(error), type: message.type, seq: message.seq },
        'publish failed',
      );
      return undefined;
    }
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
    this.health.published();
    metrics.countPublished(message);
    this.#ctx.onPublished(message);
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
      if (this.#renewFailing) this.#log.info('lease renewal works again');
      this.#renewFailing = false;
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
      // Logged once per failing streak: Redis being down would otherwise log every renewMs.
      if (!this.#renewFailing) this.#log.warn({ err: toError(error) }, 'lease renewal failed');
      this.#renewFailing = true;
    } finally {
      this.#renewing = false;
    }
  }

  async #heartbeat(): Promise<void> {
    await this.publish({ type: 'heartbeat' }, { lastHeartbeatAt: Date.now() });
    await this.#ctx.presence.write('leader', this.epoch).catch(() => undefined);
  }

  #startScheduledResync(): void {
    const ctx = this.#ctx;
    const resync = new ScheduledResync({
      pool: ctx.pool,
      tables: async () => (await discoverTables(ctx)).tables,
      watched: () => ctx.tables.watchedTables(),
      publish: async (message) => {
        if (message.type === 'invalidate') {
          if ((await this.invalidate(message.table)) === undefined) {
            throw new BridgeError('NOT_LEADER', 'invalidate not published: not leading');
          }
        } else {
          await this.resync(message.reason, message.tables);
        }
      },
      triggerOptions: ctx.triggerOptions,
      schedule: ctx.config.resyncSchedule,
      logger: ctx.logger.child({ epoch: this.epoch }),
      onReport: (report) => this.#onReport(report),
    });
    this.#resync = resync;
    resync.start();
    // Primes the OID cache (no catalog query on the first event of a watched table) and the
    // status hash; the scheduled run repeats both.
    void discoverTables(ctx)
      .then(({ reports }) => this.#lease.setStatus(pairs({ tables: tablesStatus(reports) })))
      .catch((error: unknown) =>
        this.#log.warn({ err: toError(error) }, 'discovering watched tables failed'),
      );
  }

  #onReport(report: ResyncReport): void {
    const { metrics } = this.#ctx;
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
    this.#ctx.onReport(report);
  }
}

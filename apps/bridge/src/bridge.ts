import { EventEmitter } from 'node:events';
import { PostgresError, resolveTable, type Queryable } from '@pg-static-cache/postgres';
import {
  namesFor,
  Signer,
  type BridgeRole,
  type Message,
  type Names,
  type ResyncMessage,
} from '@pg-static-cache/protocol';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import {
  parseBridgeConfig,
  triggerOptionsOf,
  type BridgeConfig,
  type BridgeConfigInput,
} from './config.ts';
import type { BridgeContext, BridgeHooks } from './context.ts';
import { ControlChannel } from './control-channel.ts';
import { checkEvictionPolicy } from './eviction-policy.ts';
import { BridgeError, toError } from './errors.ts';
import {
  startHttpServer,
  type HttpEndpoints,
  type HttpMount,
  type Readiness,
} from './http-server.ts';
import { LeaderLock } from './leader-lock.ts';
import { Leadership } from './leadership.ts';
import { createLogger } from './logger.ts';
import { LsnReader } from './lsn-reader.ts';
import { BridgeMetrics } from './metrics.ts';
import { createPool } from './postgres-pool.ts';
import { Presence } from './presence.ts';
import { checkPostgres, connectRedis } from './reachability.ts';
import { bridgeReadiness } from './readiness.ts';
import { BOARD_PATH, queueBoard } from './queue-board.ts';
import { createRedis } from './redis-connection.ts';
import { ReloadQueue, withReloadJobs } from './reload-queue.ts';
import { ReloadWorker } from './reload-worker.ts';
import type { ResyncReport } from './scheduled-resync.ts';
import { StandbyWatch } from './standby-watch.ts';
import { TableCache } from './table-cache.ts';

/** Typed events of {@link Bridge}. */
export interface BridgeEvents {
  /** The role changed ('leader' as soon as the lock is held; 'stopped' on close). */
  role: [BridgeRole];
  /** A leadership term began: `epoch` is new and its resync (seq 0) is being published. */
  term: [{ readonly epoch: number; readonly reason: 'takeover' | 'reconnect' }];
  /** A message went out on the events channel. */
  published: [Message];
  /** A scheduled resync run finished (leader only). */
  report: [ResyncReport];
}

async function tableDisplayNames(db: Queryable, tables: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const text of tables) {
    try {
      names.add((await resolveTable(db, text)).display);
    } catch (error) {
      if (error instanceof PostgresError) {
        throw new BridgeError('UNKNOWN_TABLE', error.message, { cause: error });
      }
      throw error;
    }
  }
  return [...names];
}

/**
 * One bridge process's worth of machinery: standby polling and fencing, leadership (LISTEN →
 * fenced publish), the control channel, status, health and metrics. Create with {@link startBridge}.
 */
export class Bridge extends EventEmitter<BridgeEvents> implements AsyncDisposable {
  /** The validated config this bridge runs with. */
  readonly config: BridgeConfig;
  /** Redis names under the configured namespace. */
  readonly names: Names;
  readonly #ctx: BridgeContext;
  readonly #pool: pg.Pool;
  readonly #hotPool: pg.Pool;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #watch: StandbyWatch;
  readonly #log: Logger;
  readonly #reloads: ReloadQueue | undefined;
  #worker: ReloadWorker | undefined;
  #http: HttpEndpoints | undefined;
  #leadership: Leadership | undefined;
  #role: BridgeRole = 'standby';
  #pollTimer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #acquireFailing = false;

  private constructor(config: BridgeConfig, hooks: BridgeHooks) {
    super();
    this.config = config;
    this.names = namesFor(config.namespace);
    const logger = createLogger(config);
    this.#log = logger.child({ component: 'bridge' });
    const metrics = new BridgeMetrics();
    this.#pool = createPool(config, config.poolMax, logger);
    this.#hotPool = createPool(config, 1, logger, config.applicationName, true);
    this.#redis = createRedis(config.redisUrl, 'commands', logger);
    this.#subscriber = createRedis(config.redisUrl, 'control', logger);
    // Liveness of standbys is judged on poll cadence; be generous so a busy host is not dropped.
    const staleMs = Math.max(30_000, 10 * Math.max(config.standbyPollMs, config.heartbeatMs));
    this.#reloads = config.jobs
      ? new ReloadQueue({ config, queueName: this.names.queue, logger, registry: metrics.registry })
      : undefined;
    this.#ctx = {
      config,
      names: this.names,
      triggerOptions: triggerOptionsOf(config),
      pool: this.#pool,
      lsn: new LsnReader(this.#hotPool),
      redis: this.#redis,
      metrics,
      logger,
      lock: new LeaderLock(config.namespace),
      tables: new TableCache(this.#pool, (oid, error) =>
        logger.warn(
          { component: 'tables', oid, err: error },
          'notification OID is not a table: dropped',
        ),
      ),
      presence: new Presence(this.#redis, this.names, config.bridgeId, staleMs),
      hooks:
        this.#reloads === undefined ? hooks : withReloadJobs(hooks, this.#reloads, () => this.#ctx),
      onPublished: (message) => this.emit('published', message),
      onReport: (report) => this.emit('report', report),
    };
    this.#watch = new StandbyWatch(this.#ctx);
  }

  /** @internal Use {@link startBridge}. */
  static async start(input: BridgeConfigInput, hooks: BridgeHooks = {}): Promise<Bridge> {
    const bridge = new Bridge(parseBridgeConfig(input), hooks);
    try {
      await bridge.#startup();
    } catch (error) {
      await bridge.close();
      if (error instanceof BridgeError) throw error;
      throw new BridgeError('START_FAILED', `bridge cannot start: ${toError(error).message}`, {
        cause: error,
      });
    }
    return bridge;
  }

  /** This bridge's id (in messages, the lease and logs). */
  get id(): string {
    return this.config.bridgeId;
  }

  /** 'leader' while holding the leader lock, 'standby' otherwise, 'stopped' once closed. */
  get role(): BridgeRole {
    return this.#role;
  }

  /** Epoch of the current leadership term; undefined when not leading (or between terms). */
  get epoch(): number | undefined {
    return this.#leadership?.term?.epoch;
  }

  /** Port of the health and metrics endpoints. */
  get httpPort(): number {
    if (this.#http === undefined) throw new BridgeError('CLOSED', 'the HTTP server is not running');
    return this.#http.port;
  }

  /** This bridge's Prometheus registry (what /metrics serves). */
  get registry(): Registry {
    return this.#ctx.metrics.registry;
  }

  /**
   * Publishes a `manual` resync of `tables` (names as written in SQL, resolved to `schema.name`),
   * or of everything. Throws BridgeError NOT_LEADER on a standby, UNKNOWN_TABLE for a missing table.
   */
  async requestResync(tables?: readonly string[]): Promise<ResyncMessage> {
    if (this.#closing !== undefined) throw new BridgeError('CLOSED', 'the bridge is closed');
    const display = tables === undefined ? undefined : await tableDisplayNames(this.#pool, tables);
    const term = this.#leadership?.term;
    if (term === undefined) throw new BridgeError('NOT_LEADER', 'this bridge is not the leader');
    return term.resync('manual', display);
  }

  /** Stops everything; a leader deletes its lease and ends its session, so a standby leads at once. Safe twice. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #startup(): Promise<void> {
    const { config } = this;
    await connectRedis(this.#redis, this.#subscriber);
    await checkEvictionPolicy(this.#redis, this.#ctx.logger);
    await checkPostgres(this.#pool);
    if (config.tables !== undefined) await tableDisplayNames(this.#pool, config.tables);
    await new ControlChannel({
      subscriber: this.#subscriber,
      redis: this.#redis,
      names: this.names,
      metrics: this.#ctx.metrics,
      logger: this.#ctx.logger,
      target: this,
      signer: new Signer(config.signingKeys),
    }).start();
    if (config.jobs && config.worker) {
      this.#worker = await ReloadWorker.start({
        config,
        logger: this.#ctx.logger,
        registry: this.registry,
        redis: this.#redis,
      });
    }
    this.#http = await startHttpServer({
      host: config.httpHost,
      port: config.httpPort,
      readiness: () => this.#readiness(),
      registry: this.registry,
      logger: this.#ctx.logger.child({ component: 'http' }),
      mounts: this.#boardMounts(),
    });
    // The first poll decides the role before startBridge resolves.
    await this.#poll();
    this.#log.info(
      { role: this.#role, httpHost: config.httpHost, httpPort: this.#http.port },
      'bridge started',
    );
    this.#schedulePoll();
  }

  #boardMounts(): HttpMount[] {
    if (this.#reloads === undefined) return [];
    const { boardUser: user, boardPassword: password, httpHost, allowedHosts } = this.config;
    if (password === undefined) {
      this.#log.info(
        'Bull Board is read-only and answers only on localhost: set PSC_BOARD_PASSWORD',
      );
    }
    const credentials = password === undefined ? undefined : { user, password };
    const board = queueBoard([this.#reloads.queue], { credentials, allowedHosts, httpHost });
    return [{ path: BOARD_PATH, handler: board }];
  }

  #isClosing(): boolean {
    return this.#closing !== undefined;
  }

  #setRole(role: BridgeRole): void {
    if (this.#role === role) return;
    this.#role = role;
    this.#ctx.metrics.setRole(role);
    if (role !== 'stopped') this.#ctx.metrics.leaderChanges.inc({ to: role });
    this.#log.info({ role }, 'role changed');
    this.emit('role', role);
  }

  #schedulePoll(): void {
    if (this.#closing !== undefined || this.#leadership !== undefined) return;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#polling = this.#poll()
        .catch((error: unknown) => this.#log.error({ err: toError(error) }, 'standby poll failed'))
        .finally(() => {
          this.#polling = undefined;
          this.#schedulePoll();
        });
    }, this.config.standbyPollMs);
  }

  async #poll(): Promise<void> {
    const outcome = await this.#watch.poll();
    if (outcome !== 'free' || this.#closing !== undefined) return;
    let leadership: Leadership | undefined;
    try {
      leadership = await Leadership.acquire(this.#ctx, this.#watch.epochFloor);
      this.#acquireFailing = false;
    } catch (error) {
      if (!this.#acquireFailing)
        this.#log.warn({ err: toError(error) }, 'cannot open a LISTEN session');
      this.#acquireFailing = true;
      return;
    }
    if (leadership === undefined) return;
    // Checked again: close() may have begun while the session was opening.
    if (this.#isClosing()) {
      await leadership.close();
      return;
    }
    this.#lead(leadership);
  }

  #lead(leadership: Leadership): void {
    const { metrics } = this.#ctx;
    this.#leadership = leadership;
    leadership.on('term', (term, reason) => {
      metrics.epoch.set(term.epoch);
      this.#watch.noteEpoch(term.epoch);
      this.emit('term', { epoch: term.epoch, reason });
    });
    leadership.once('ended', () => {
      if (this.#leadership !== leadership) return;
      this.#leadership = undefined;
      this.#watch.noteEpoch(leadership.epochFloor - 1);
      metrics.epoch.set(0);
      this.#setRole('standby');
      this.#schedulePoll();
    });
    this.#setRole('leader');
  }

  #readiness(): Readiness {
    const standby = this.#watch.health;
    return bridgeReadiness({
      role: this.#role,
      bridge: this.id,
      leadership: this.#leadership,
      standby,
    });
  }

  async #shutdown(): Promise<void> {
    this.#log.info({ role: this.#role }, 'stopping');
    clearTimeout(this.#pollTimer);
    await this.#polling?.catch(() => undefined);
    const leadership = this.#leadership;
    this.#leadership = undefined;
    await leadership
      ?.close()
      .catch((error: unknown) =>
        this.#log.warn({ err: toError(error) }, 'closing leadership failed'),
      );
    this.#ctx.metrics.epoch.set(0);
    this.#setRole('stopped');
    // After leadership (no more jobs are added), before the connections the worker uses.
    await this.#worker?.close();
    await this.#reloads?.close();
    await this.#ctx.presence.remove().catch(() => undefined);
    await this.#http?.close();
    this.#http = undefined;
    this.#subscriber.disconnect();
    this.#redis.disconnect();
    await Promise.all([this.#pool.end(), this.#hotPool.end()]);
    this.#log.info('bridge stopped');
  }
}

/**
 * Starts a bridge: connects to Postgres and Redis (failing fast with BridgeError when either is
 * unreachable or a configured table is unknown), serves HTTP, and leads or stands by.
 */
export function startBridge(config: BridgeConfigInput, hooks: BridgeHooks = {}): Promise<Bridge> {
  return Bridge.start(config, hooks);
}

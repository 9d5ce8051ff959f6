import { EventEmitter } from 'node:events';
import { PostgresError, resolveTable, type Queryable } from '@pg-static-cache/postgres';
import {
  Signer,
  type BridgeRole,
  type Message,
  type Names,
  type ResyncMessage,
} from '@pg-static-cache/protocol';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import {
  parseBridgeConfig,
  triggerOptionsOf,
  type BridgeConfig,
  type BridgeConfigInput,
} from './config.ts';
import { BridgeError, startFailure } from './errors.ts';
import { LsnReader } from './connections/lsn-reader.ts';
import { createPool } from './connections/postgres-pool.ts';
import { checkPostgres, connectRedis } from './connections/reachability.ts';
import { createRedis, namesOn, type RedisClient } from './connections/redis-connection.ts';
import { checkEvictionPolicy } from './ops/eviction-policy.ts';
import {
  startHttpServer,
  type HttpEndpoints,
  type HttpMount,
  type Readiness,
} from './ops/http-server.ts';
import { createLogger } from './ops/logger.ts';
import { BridgeMetrics } from './ops/metrics.ts';
import { BOARD_PATH, queueBoard } from './ops/queue-board.ts';
import { InlineReloads } from './jobs/inline-reloads.ts';
import { ReloadQueue } from './jobs/reload-queue.ts';
import { ReloadWorker } from './jobs/reload-worker.ts';
import type { ResyncReport } from './resync/scheduled-resync.ts';
import { Announcer } from './publishing/announcer.ts';
import { ControlChannel } from './publishing/control-channel.ts';
import type { BridgeHooks } from './publishing/publisher.ts';
import { Regions } from './publishing/regions.ts';
import { WatchedTables } from './publishing/watched-tables.ts';
import { Election } from './election/election.ts';
import { LeaderLock } from './election/leader-lock.ts';
import { LeaderTerm, type TermParts } from './election/leader-term.ts';
import {
  LeadershipStatus,
  roleOf,
  type LeadershipState,
  type TermReason,
} from './election/leadership-state.ts';
import { Leadership, type LeadershipParts } from './election/leadership.ts';
import { Presence } from './election/presence.ts';
import { bridgeReadiness } from './election/readiness.ts';
import { StandbyWatch } from './election/standby-watch.ts';

/** Typed events of {@link Bridge}. */
export interface BridgeEvents {
  /** The role changed ('leader' as soon as the lock is held; 'stopped' on close). */
  role: [BridgeRole];
  /** A leadership term began: `epoch` is new and its resync (seq 0) is being published. */
  term: [{ readonly epoch: number; readonly reason: TermReason }];
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
  readonly #logger: Logger;
  readonly #log: Logger;
  readonly #metrics: BridgeMetrics;
  readonly #pool: pg.Pool;
  readonly #hotPool: pg.Pool;
  readonly #redis: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #presence: Presence;
  readonly #status = new LeadershipStatus();
  readonly #watch: StandbyWatch;
  readonly #election: Election;
  readonly #reloads: ReloadQueue | undefined;
  readonly #regions: Regions;
  #worker: ReloadWorker | undefined;
  #http: HttpEndpoints | undefined;
  #closing: Promise<void> | undefined;

  private constructor(config: BridgeConfig, hooks: BridgeHooks) {
    super();
    this.config = config;
    this.names = namesOn(config.redisUrl, config.namespace);
    const logger = createLogger(config);
    this.#logger = logger;
    this.#log = logger.child({ component: 'bridge' });
    const metrics = new BridgeMetrics();
    this.#metrics = metrics;
    this.#pool = createPool(config, config.poolMax, logger);
    this.#hotPool = createPool(config, 1, logger, config.applicationName, true);
    this.#redis = createRedis(config.redisUrl, 'commands', logger);
    this.#subscriber = createRedis(config.redisUrl, 'control', logger);
    // Liveness of standbys is judged on poll cadence; be generous so a busy host is not dropped.
    const staleMs = Math.max(30_000, 10 * Math.max(config.standbyPollMs, config.heartbeatMs));
    this.#presence = new Presence(this.#redis, this.names, config.bridgeId, staleMs);
    this.#reloads = config.jobs
      ? new ReloadQueue({ config, names: this.names, logger, registry: metrics.registry })
      : undefined;
    const lock = new LeaderLock(config.namespace);
    const watched = new WatchedTables({
      db: this.#pool,
      configured: config.tables,
      triggerOptions: triggerOptionsOf(config),
      logger,
    });
    // On its own connection, so a long digest on the pool cannot delay an invalidate.
    const lsn = new LsnReader(this.#hotPool);
    this.#regions = new Regions({
      config,
      signer: new Signer(config.signingKeys),
      metrics: metrics.regions,
      logger,
      allTables: () => watched.resyncTargets(undefined),
      lsn: () => lsn.read(),
    });
    const term: TermParts = {
      config,
      redis: this.#redis,
      names: this.names,
      presence: this.#presence,
      metrics,
      logger,
      watched,
      pool: this.#pool,
      lsn,
      reloads:
        this.#reloads === undefined
          ? undefined
          : new InlineReloads(this.#reloads, () => this.#worker, logger),
      regions: this.#regions,
      hooks,
      onPublished: (message) => this.emit('published', message),
      onReport: (report) => this.emit('report', report),
    };
    const leadership: LeadershipParts = {
      config,
      lock,
      status: this.#status,
      beginTerm: (backendPid, floor) => LeaderTerm.begin(term, backendPid, floor),
      announcer: () =>
        new Announcer({
          currentTerm: () => this.#status.term,
          tables: watched,
          metrics,
          logger: logger.child({ component: 'leadership' }),
        }),
      metrics,
      logger,
    };
    this.#watch = new StandbyWatch({
      presence: this.#presence,
      lock,
      db: this.#pool,
      redis: this.#redis,
      names: this.names,
      leaseMs: config.leaseMs,
      metrics,
      logger,
    });
    this.#election = new Election({
      watch: this.#watch,
      status: this.#status,
      acquire: (floor) => Leadership.acquire(leadership, floor),
      standbyPollMs: config.standbyPollMs,
      logger: this.#log,
    });
    this.#status.on('state', (state, previous) => this.#onState(state, previous));
  }

  /** @internal Use {@link startBridge}. */
  static async start(input: BridgeConfigInput, hooks: BridgeHooks = {}): Promise<Bridge> {
    const bridge = new Bridge(parseBridgeConfig(input), hooks);
    try {
      await bridge.#startup();
    } catch (error) {
      await bridge.close();
      throw startFailure('bridge', error);
    }
    return bridge;
  }

  /** This bridge's id (in messages, the lease and logs). */
  get id(): string {
    return this.config.bridgeId;
  }

  /** 'leader' while holding the leader lock, 'standby' otherwise, 'stopped' once closed. */
  get role(): BridgeRole {
    return roleOf(this.#status.state);
  }

  /** Epoch of the current leadership term; undefined when not leading (or between terms). */
  get epoch(): number | undefined {
    return this.#status.term?.epoch;
  }

  /** Port of the health and metrics endpoints. */
  get httpPort(): number {
    if (this.#http === undefined) throw new BridgeError('CLOSED', 'the HTTP server is not running');
    return this.#http.port;
  }

  /** This bridge's Prometheus registry (what /metrics serves). */
  get registry(): Registry {
    return this.#metrics.registry;
  }

  /**
   * Publishes a `manual` resync of `tables` (names as written in SQL, resolved to `schema.name`),
   * or of everything. Throws BridgeError NOT_LEADER on a standby, UNKNOWN_TABLE for a missing table.
   */
  async requestResync(tables?: readonly string[]): Promise<ResyncMessage> {
    if (this.#closing !== undefined) throw new BridgeError('CLOSED', 'the bridge is closed');
    const display = tables === undefined ? undefined : await tableDisplayNames(this.#pool, tables);
    const term = this.#status.term;
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
    await checkEvictionPolicy(this.#redis, this.#logger);
    await checkPostgres(this.#pool);
    // Not awaited: a region's Redis being down at start stops nothing (it is owed a resync).
    this.#regions.start();
    if (config.tables !== undefined) await tableDisplayNames(this.#pool, config.tables);
    await new ControlChannel({
      subscriber: this.#subscriber,
      redis: this.#redis,
      names: this.names,
      metrics: this.#metrics,
      logger: this.#logger,
      target: this,
      signer: new Signer(config.signingKeys),
    }).start();
    if (config.jobs && config.worker) {
      this.#worker = await ReloadWorker.start({
        config,
        logger: this.#logger,
        registry: this.registry,
        redis: this.#redis,
      });
    }
    this.#http = await startHttpServer({
      host: config.httpHost,
      port: config.httpPort,
      readiness: () => this.#readiness(),
      registry: this.registry,
      logger: this.#logger.child({ component: 'http' }),
      mounts: this.#boardMounts(),
    });
    // The first poll decides the role before startBridge resolves.
    await this.#election.start();
    this.#log.info(
      { role: this.role, httpHost: config.httpHost, httpPort: this.#http.port },
      'bridge started',
    );
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
    // Home first (the board reads Redis' own details from its first queue), then each region's.
    const queues = [{ queue: this.#reloads.queue }, ...this.#regions.queues()];
    const board = queueBoard(queues, { credentials, allowedHosts, httpHost });
    return [{ path: BOARD_PATH, handler: board }];
  }

  // Metrics, the role and term events and the log, from the one leadership state.
  #onState(state: LeadershipState, previous: LeadershipState): void {
    const role = roleOf(state);
    this.#metrics.epoch.set(state.kind === 'leading' ? state.term.epoch : 0);
    if (role !== roleOf(previous)) {
      this.#metrics.setRole(role);
      if (role !== 'stopped') this.#metrics.leaderChanges.inc({ to: role });
      this.#log.info({ role }, 'role changed');
      this.emit('role', role);
    }
    if (state.kind === 'leading') {
      this.emit('term', { epoch: state.term.epoch, reason: state.reason });
    }
  }

  #readiness(): Readiness {
    return bridgeReadiness({
      state: this.#status.state,
      bridge: this.id,
      listen: this.#election.listenStatus,
      standby: this.#watch.health,
      regions: this.#regions.report(),
    });
  }

  async #shutdown(): Promise<void> {
    this.#log.info({ role: this.role }, 'stopping');
    // Leadership first: the lease is deleted and the session ended, so a standby leads at once.
    await this.#election.close();
    // After leadership (no more jobs are added), before the connections the worker uses.
    await this.#worker?.close();
    await this.#reloads?.close();
    await this.#regions.close();
    await this.#presence.remove().catch(() => undefined);
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

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  createSnapshot,
  MAX_MESSAGE_BYTES,
  serializeMessage,
  Signer,
  type Names,
  type Snapshot,
  type SnapshotDeltaMessage,
  type SnapshotMessage,
} from '@pg-static-cache/protocol';
import { FailureStreak, lsnValue } from '@pg-static-cache/postgres';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BridgeConfig } from '../config.ts';
import { BridgeError, startFailure, toError } from '../errors.ts';
import { checkEvictionPolicy } from '../ops/eviction-policy.ts';
import { LsnReader } from '../connections/lsn-reader.ts';
import { createPool } from '../connections/postgres-pool.ts';
import { checkPostgres, connectRedis } from '../connections/reachability.ts';
import { createRedis, namesOn, type RedisClient } from '../connections/redis-connection.ts';
import { parseReloadJobData, type ReloadJobData } from './reload-job.ts';
import { ReloadWorkerMetrics } from './reload-metrics.ts';
import { SnapshotDeltas } from './snapshot-deltas.ts';
import { SnapshotStore } from './snapshot-store.ts';
import { resolveJobTable, selectTextRows } from './table-snapshot.ts';
import { WorkerReplica } from './worker-replica.ts';

/** Test seams: pause a job at a known point (a test holds it there while it commits). */
export interface ReloadWorkerHooks {
  /** After the version and the LSN are taken, before the table query starts. */
  readonly beforeQuery?: (job: ReloadJobData) => void | Promise<void>;
  /** After the query, before the snapshot is stored. */
  readonly beforeStore?: (snapshot: Snapshot) => void | Promise<void>;
}

/** What a completed job returns (Bull Board shows it). */
export interface ReloadResult {
  readonly table: string;
  readonly version: number;
  /** False when a newer version was stored first (this one was dropped). */
  readonly stored: boolean;
  readonly rows: number;
  readonly bytes: number;
  readonly ms: number;
}

/** How an inline reload ({@link ReloadWorker.reloadNow}) differs from a job's. */
interface InlineReload {
  /** A WAL position of the primary read before the reload started; the snapshot records it. */
  readonly lsnRead: string;
  /** BullMQ's meta key of the queue: a paused queue stores nothing (the caller then adds a job). */
  readonly unlessPaused: string | undefined;
}

/** Typed events of {@link ReloadWorker}. */
export interface ReloadWorkerEvents {
  /** A snapshot was stored and its `snapshot` message published. */
  snapshot: [SnapshotMessage];
  /** A snapshot was not stored: `current`, a newer version, was stored first. */
  superseded: [{ readonly table: string; readonly version: number; readonly current: number }];
  /** A job attempt failed; `final` when it will not be tried again. */
  failed: [{ readonly table: string | undefined; readonly error: Error; readonly final: boolean }];
}

/** What a {@link ReloadWorker} needs. */
export interface ReloadWorkerOptions {
  readonly config: BridgeConfig;
  readonly logger: Logger;
  /** Where the worker's metrics go: the bridge's registry, or the standalone worker's. */
  readonly registry: Registry;
  /** A commands connection for snapshots and publishes; the worker opens its own when absent. */
  readonly redis?: RedisClient;
  readonly hooks?: ReloadWorkerHooks;
}

/**
 * Runs reload jobs, and the leader's inline reloads ({@link reloadNow}): for one table, takes a
 * version, reads the LSN, queries the table once with every value as Postgres text, and stores the
 * snapshot unless a newer one is stored, publishing `snapshot` (after a `snapshot-delta`) in the
 * same round trip. Create with {@link ReloadWorker.start}.
 *
 * The publish is a plain PUBLISH, not the leader's fenced one: a worker may run on a standby or on
 * its own, and `snapshot` messages carry no epoch or seq. That is safe because nothing in one can
 * roll a client back: versions only move forward (the store refuses older ones), and a client
 * reads the snapshot from Redis, verifies its digest and keeps it only if its version is newer
 * than what it holds. A worker of a deposed leader can at worst announce a correct snapshot.
 */
export class ReloadWorker extends EventEmitter<ReloadWorkerEvents> implements AsyncDisposable {
  readonly #config: BridgeConfig;
  readonly #names: Names;
  readonly #logger: Logger;
  readonly #log: Logger;
  readonly #metrics: ReloadWorkerMetrics;
  readonly #hooks: ReloadWorkerHooks;
  readonly #pool: pg.Pool;
  /** Where table queries go once it replayed the job's position (PSC_REPLICA_URL). */
  readonly #replica: WorkerReplica | undefined;
  readonly #redis: RedisClient;
  readonly #ownRedis: boolean;
  readonly #store: SnapshotStore;
  readonly #deltas = new SnapshotDeltas();
  readonly #signer: Signer;
  #worker: Worker<ReloadJobData, ReloadResult> | undefined;
  #workerConnection: RedisClient | undefined;
  readonly #inline = new Set<Promise<ReloadResult>>();
  #closing: Promise<void> | undefined;
  // BullMQ repeats a connection error on every retry: one line per outage.
  readonly #errors: FailureStreak<Error>;

  private constructor(options: ReloadWorkerOptions) {
    super();
    const { config, logger } = options;
    this.#config = config;
    this.#names = namesOn(config.redisUrl, config.namespace);
    this.#logger = logger;
    this.#log = logger.child({ component: 'reload-worker' });
    this.#metrics = new ReloadWorkerMetrics(options.registry);
    this.#hooks = options.hooks ?? {};
    // Its own sessions: a long table query must not hold up the bridge's lock polling.
    this.#pool = createPool(config, config.workerConcurrency, logger, 'pg-static-cache-worker');
    this.#replica = WorkerReplica.of(config, logger, this.#metrics);
    this.#ownRedis = options.redis === undefined;
    this.#redis = options.redis ?? createRedis(config.redisUrl, 'commands', logger);
    this.#signer = new Signer(config.signingKeys);
    this.#store = new SnapshotStore(this.#redis, this.#names, this.#signer);
    const log = this.#log;
    this.#errors = new FailureStreak({
      started: (error) => log.warn({ err: error }, 'reload worker error'),
      ended: () => log.info('reload worker works again'),
    });
  }

  /** Connects (failing fast with BridgeError START_FAILED) and starts taking jobs. */
  static async start(options: ReloadWorkerOptions): Promise<ReloadWorker> {
    const worker = new ReloadWorker(options);
    try {
      await worker.#startup();
    } catch (error) {
      await worker.close();
      throw startFailure('reload worker', error);
    }
    return worker;
  }

  /** Stops taking jobs, waits for the running ones, and closes its connections. Safe twice. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #startup(): Promise<void> {
    if (this.#ownRedis) {
      await connectRedis(this.#redis);
      // A worker inside a bridge shares its connection, and the bridge has warned already.
      await checkEvictionPolicy(this.#redis, this.#log);
    }
    await checkPostgres(this.#pool);
    const config = this.#config;
    // BullMQ's connections wait for Redis however long it takes; it duplicates this one for its
    // blocking reads.
    this.#workerConnection = createRedis(config.redisUrl, 'worker', this.#logger);
    const worker = new Worker<ReloadJobData, ReloadResult>(
      this.#names.queue,
      (job) => this.#process(job),
      {
        connection: this.#workerConnection,
        prefix: this.#names.queuePrefix,
        name: config.bridgeId,
        concurrency: config.workerConcurrency,
        lockDuration: config.jobLockMs,
        stalledInterval: config.jobStalledIntervalMs,
      },
    );
    this.#worker = worker;
    worker.on('failed', (job, error) => this.#onFailed(job, error));
    worker.on('stalled', (jobId) => {
      this.#metrics.stalled.inc();
      this.#log.warn({ jobId }, 'job stalled (its worker died or froze); running it again');
    });
    worker.on('error', (error) => this.#errors.fail(error));
    // Its blocking connection is back, or a job went through: the outage is over.
    worker.on('ready', () => this.#errors.succeed());
    worker.on('completed', () => this.#errors.succeed());
    await worker.waitUntilReady();
    this.#log.info({ concurrency: config.workerConcurrency }, 'reload worker started');
  }

  /**
   * Whether the leader may hand `table` to {@link reloadNow} rather than queue a job: this worker
   * stored it last with at most `inlineReloadRows` rows. A table it has not stored yet, or a big
   * one, goes through the queue, whose worker pool a long query does not hold up the leader with.
   */
  canReloadNow(table: string): boolean {
    const rows = this.#deltas.lastOf(table)?.rows.length;
    return (
      this.#closing === undefined && rows !== undefined && rows <= this.#config.inlineReloadRows
    );
  }

  /**
   * Runs the reload `data` describes now, outside the queue (the leader's inline path): the same
   * snapshot, store and messages as a job, without the queue's add, poll and bookkeeping. Rejects
   * where a job attempt would fail (the caller then queues a job, which retries), and with
   * BridgeError CLOSED once close() was called.
   *
   * `data.lsn` must have been read from the primary before this call (the leader's invalidate
   * LSN): the query starts after it, so the snapshot holds every commit up to it and records it,
   * without a WAL position read of its own.
   */
  async reloadNow(data: ReloadJobData): Promise<ReloadResult> {
    if (this.#closing !== undefined) throw new BridgeError('CLOSED', 'the reload worker is closed');
    const running = this.#reload(data, {
      lsnRead: data.lsn,
      unlessPaused: this.#worker?.keys.meta,
    });
    // close() waits for it, as BullMQ's close waits for running jobs, before the pool ends.
    this.#inline.add(running);
    try {
      const result = await running;
      this.#metrics.inline.inc({ outcome: 'completed' });
      return result;
    } catch (error) {
      this.#metrics.inline.inc({ outcome: 'failed' });
      throw error;
    } finally {
      this.#inline.delete(running);
    }
  }

  async #process(job: Job<ReloadJobData, ReloadResult>): Promise<ReloadResult> {
    const data = parseReloadJobData(job.data);
    if (data === undefined) throw new UnrecoverableError('invalid reload job data');
    const result = await this.#reload(data);
    this.#metrics.jobs.inc({ outcome: 'completed' });
    return result;
  }

  async #reload(data: ReloadJobData, inline?: InlineReload): Promise<ReloadResult> {
    const started = performance.now();
    const { snapshot, primaryKey } = await this.#take(data, inline?.lsnRead);
    const { table, version } = snapshot;
    const { message, texts } = this.#messages(snapshot, primaryKey);
    // Stored and announced in one round trip.
    const outcome = await this.#store.store(snapshot, {
      messages: texts,
      unlessPaused: inline?.unlessPaused,
    });
    if ('paused' in outcome) throw new BridgeError('PAUSED', 'the reload queue is paused');
    const rows = snapshot.rows.length;
    if (outcome.stored) {
      this.#deltas.stored(snapshot);
      this.#metrics.bytes.set({ table }, outcome.bytes);
      this.#metrics.rows.set({ table }, rows);
      this.emit('snapshot', message);
    } else {
      this.#metrics.superseded.inc();
      this.#log.info({ table, version, current: outcome.current }, 'snapshot superseded');
      this.emit('superseded', { table, version, current: outcome.current });
    }
    const seconds = (performance.now() - started) / 1000;
    this.#metrics.duration.observe(seconds);
    const bytes = outcome.stored ? outcome.bytes : 0;
    const ms = Math.round(seconds * 1000);
    this.#log.debug({ table, version, rows, bytes, ms, stored: outcome.stored }, 'reload done');
    return { table, version, stored: outcome.stored, rows, bytes, ms };
  }

  // The `snapshot` message, serialized after a `snapshot-delta` when there is a small delta: an app
  // that applies the delta needs the `snapshot` message for nothing, and one that does not know
  // deltas simply drops it.
  #messages(
    snapshot: Snapshot,
    primaryKey: readonly string[],
  ): { message: SnapshotMessage; texts: string[] } {
    const message = {
      v: 1,
      type: 'snapshot',
      table: snapshot.table,
      oid: snapshot.oid,
      version: snapshot.version,
      generation: snapshot.generation,
      key: this.#names.snapshot(snapshot.table),
      digest: snapshot.digest,
      lsn: snapshot.lsn,
      at: snapshot.at,
      worker: this.#config.bridgeId,
    } as const satisfies SnapshotMessage;
    const texts: string[] = [];
    const delta = this.#deltas.deltaTo(snapshot, primaryKey);
    if (delta !== undefined) {
      const { from, fromDigest, length, removed, rows } = delta;
      const deltaMessage = {
        ...message,
        type: 'snapshot-delta',
        from,
        fromDigest,
        length,
        removed: [...removed],
        rows: rows.map(([index, row]) => [index, [...row]] as [number, (string | null)[]]),
      } as const satisfies SnapshotDeltaMessage;
      const text = serializeMessage(deltaMessage, this.#signer);
      // Too big for a message (long rows): apps read the stored value, as without a delta.
      if (Buffer.byteLength(text) <= MAX_MESSAGE_BYTES) texts.push(text);
    }
    texts.push(serializeMessage(message, this.#signer));
    return { message, texts };
  }

  // Version first, then the LSN, then the query: the highest version is the latest query to start,
  // and the snapshot holds every commit at or before its LSN. `lsnRead`, a WAL position read before
  // this call, serves as well as one read here (the query starts after both), and costs no read.
  async #take(
    data: ReloadJobData,
    lsnRead?: string,
  ): Promise<{ snapshot: Snapshot; primaryKey: readonly string[] }> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      // The version does not depend on the table's catalog entry (a job's table keeps its name),
      // so both are asked at once.
      const [table, { version, generation }] = await Promise.all([
        resolveJobTable(client, data.table, data.oid),
        this.#store.nextVersion(data.table),
      ]);
      if (table === undefined) {
        // Its stored snapshot is of a table that is gone: an app that loaded it would serve the
        // dropped rows as current. Without it, apps query Postgres and learn of the drop.
        await this.#redis.del(this.#names.snapshot(data.table));
        this.#deltas.forget(data.table);
        throw new UnrecoverableError(`table ${JSON.stringify(data.table)} no longer exists`);
      }
      const lsn = lsnRead ?? (await new LsnReader(client).read());
      const at = Date.now();
      await this.#hooks.beforeQuery?.(data);
      // On a replica, only once it replayed `lsn`: its rows then include every commit up to it,
      // and the snapshot records `lsn` (never the replica's own, later position, which the rows
      // may include but nothing here proved). `lsn` rather than the job's: it was read after every
      // event this job stands for (a waiting job drops the adds that come after the first).
      const last = this.#deltas.lastOf(table.display);
      const { fields, rows } =
        this.#replica === undefined
          ? await selectTextRows(client, table, last)
          : await this.#replica.read(lsnValue(lsn), client, (db) =>
              selectTextRows(db, table, last),
            );
      const snapshot = createSnapshot({
        table: table.display,
        oid: table.oid,
        version,
        generation,
        fields,
        rows,
        lsn,
        at,
      });
      await this.#hooks.beforeStore?.(snapshot);
      return { snapshot, primaryKey: table.primaryKey };
    } catch (error) {
      broken = toError(error);
      throw error;
    } finally {
      // A session that failed mid-query may be unusable: drop it rather than hand it out again.
      client.release(broken);
    }
  }

  #onFailed(job: Job<ReloadJobData, ReloadResult> | undefined, error: Error): void {
    const final =
      job === undefined ||
      error instanceof UnrecoverableError ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    this.#metrics.jobs.inc({ outcome: final ? 'failed' : 'retried' });
    const table = parseReloadJobData(job?.data)?.table;
    const attempt = job?.attemptsMade;
    this.#log.warn(
      { err: error, table, attempt, final },
      final ? 'reload job failed' : 'reload job failed; retrying',
    );
    this.emit('failed', { table, error, final });
  }

  async #shutdown(): Promise<void> {
    await this.#worker
      ?.close()
      .catch((error: unknown) => this.#log.warn({ err: toError(error) }, 'closing worker failed'));
    await Promise.allSettled(this.#inline);
    this.#workerConnection?.disconnect();
    if (this.#ownRedis) this.#redis.disconnect();
    await Promise.all([this.#pool.end(), this.#replica?.close()]);
  }
}

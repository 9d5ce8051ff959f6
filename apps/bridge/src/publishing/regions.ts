import { serializeMessage, type Signer } from '@pg-static-cache/protocol';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { BridgeConfig, RegionConfig } from '../config.ts';
import { createRedis, namesOn, type RedisClient } from '../connections/redis-connection.ts';
import { ReloadQueue, type ReloadTarget } from '../jobs/reload-queue.ts';
import type { ReloadTrigger } from '../jobs/reload-metrics.ts';
import type { RegionMetrics } from '../ops/region-metrics.ts';
import type { LeaderMessage } from './publisher.ts';
import { RegionJobs } from './region-jobs.ts';
import { RegionLink, type RegionReport } from './region-link.ts';

/**
 * Most messages a region's buffer holds. Heartbeats alone add one per heartbeatMs, and a region
 * that cannot keep up is owed a resync anyway, so this only bounds memory during a burst.
 */
export const REGION_MAX_QUEUED = 1_000;

/** What {@link Regions} needs. */
export interface RegionsOptions {
  readonly config: BridgeConfig;
  /** Signs the resync a region is owed, as the leader signs its messages. */
  readonly signer: Signer;
  readonly metrics: RegionMetrics;
  readonly logger: Logger;
  /** Every watched table, for the jobs a region is owed. */
  readonly allTables: () => Promise<readonly ReloadTarget[]>;
  /** An LSN read now. */
  readonly lsn: () => Promise<string>;
}

interface Region {
  readonly name: string;
  readonly link: RegionLink;
  readonly redis: RedisClient;
  readonly queue: ReloadQueue | undefined;
  readonly jobs: RegionJobs | undefined;
}

/**
 * The regions besides home (`--region NAME=URL`): each a {@link RegionLink} for messages and, with
 * jobs on, {@link RegionJobs} for reload jobs on the region's own queue, each on connections of its
 * own, so no region waits for another or holds up home. Without regions, every call does nothing.
 */
export class Regions {
  readonly #regions: readonly Region[];
  readonly #log: Logger;
  #closed = false;

  constructor(options: RegionsOptions) {
    this.#log = options.logger.child({ component: 'regions' });
    this.#regions = options.config.regions.map((region) => this.#open(region, options));
  }

  /** How many regions there are (home not counted). */
  get size(): number {
    return this.#regions.length;
  }

  /** Connects to every region in the background: a region down at start stops nothing. */
  start(): void {
    for (const { redis } of this.#regions) redis.connect().catch(() => undefined);
  }

  /** Sends a message that went out at home (through the fence) to every region. */
  forward(message: LeaderMessage, text: string): void {
    for (const { link } of this.#regions) link.forward(message, text);
  }

  /** Reload jobs for `targets` in every region's queue, in the background. */
  addJobs(targets: readonly ReloadTarget[], lsn: string, trigger: ReloadTrigger): void {
    if (targets.length === 0) return;
    for (const { jobs } of this.#regions) jobs?.add(targets, lsn, trigger);
  }

  /** Each region's reload queue (with jobs on), for Bull Board. */
  queues(): { readonly region: string; readonly queue: Queue }[] {
    return this.#regions.flatMap(({ name, queue }) =>
      queue === undefined ? [] : [{ region: name, queue: queue.queue }],
    );
  }

  /** Every region now. */
  report(): RegionReport[] {
    return this.#regions.map(({ link }) => link.report());
  }

  /** Closes every region's connections. Safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#regions.map(async ({ link, redis, jobs }) => {
        link.close();
        await jobs?.close().catch(() => undefined);
        redis.disconnect();
      }),
    );
  }

  #open(region: RegionConfig, options: RegionsOptions): Region {
    const { config, signer, metrics } = options;
    const logger = this.#log.child({ region: region.name });
    // The region's own layout: a cluster region hash-tags its names whatever home does.
    const names = namesOn(region.redisUrl, config.namespace);
    // A region slower than the lease counts as failing: its publish gives up and it is owed a resync.
    const redis = createRedis(region.redisUrl, 'region', logger, {
      commandTimeoutMs: config.leaseMs,
    });
    const queue = config.jobs
      ? new ReloadQueue({
          config,
          names,
          logger,
          registry: undefined,
          redisUrl: region.redisUrl,
        })
      : undefined;
    const jobs = queue
      ? new RegionJobs({
          region: region.name,
          queue,
          allTables: options.allTables,
          lsn: options.lsn,
          metrics,
          logger,
        })
      : undefined;
    const link = new RegionLink({
      region: region.name,
      redis,
      names,
      resyncText: (message) =>
        serializeMessage(
          {
            v: 1,
            type: 'resync',
            reason: 'reconnect',
            seq: message.seq,
            at: Date.now(),
            bridge: message.bridge,
            epoch: message.epoch,
          },
          signer,
        ),
      maxQueued: REGION_MAX_QUEUED,
      maxDelayMs: config.leaseMs,
      metrics,
      logger,
      onDelivered: (healed) => (healed ? jobs?.reloadAll() : jobs?.retry()),
    });
    return { name: region.name, link, redis, queue, jobs };
  }
}

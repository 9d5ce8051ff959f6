import { performance } from 'node:perf_hooks';
import type { Names } from '@pg-static-cache/protocol';
import type { Logger } from 'pino';
import { publish, type RedisClient } from '../connections/redis-connection.ts';
import { describeRedisFailure, redisFailureOf } from '../connections/redis-failure.ts';
import { toError } from '../errors.ts';
import type { RegionDrop, RegionMetrics } from '../ops/region-metrics.ts';
import type { LeaderMessage } from './publisher.ts';

/** Where a region stands: no publish tried yet, the last one went through, or they fail. */
export type RegionState = 'idle' | 'ok' | 'failing';

/** A region as /readyz and the status hash show it. */
export interface RegionReport {
  readonly region: string;
  readonly state: RegionState;
  /** When a message last reached the region (ms since the Unix epoch); null before the first. */
  readonly lastPublishAt: number | null;
  /** Since when publishes fail (ms since the Unix epoch); null unless failing. */
  readonly failingSince: number | null;
  /** Why they fail (Redis' own first line); absent unless failing. */
  readonly reason?: string;
  /** Messages waiting in the buffer. */
  readonly queued: number;
  /** Whether the region's clients are owed a resync (it goes out with the next message). */
  readonly owesResync: boolean;
}

/** What a {@link RegionLink} needs. */
export interface RegionLinkOptions {
  readonly region: string;
  /** The region's own commands connection (see createRedis' `region` role). */
  readonly redis: RedisClient;
  /** The names in the region's Redis: messages go out on `names.events`. */
  readonly names: Names;
  /** The text of a resync of everything that takes `message`'s place: same epoch, seq and bridge. */
  readonly resyncText: (message: LeaderMessage) => string;
  /** Most messages the buffer holds; more drop the oldest, and the region is owed a resync. */
  readonly maxQueued: number;
  /**
   * Longest a message may wait in the buffer (the lease): an older one may belong to a term that
   * has since ended, so it is dropped and the region is owed a resync instead.
   */
  readonly maxDelayMs: number;
  readonly metrics: RegionMetrics;
  readonly logger: Logger;
  /** A message reached the region; `healed` when it was the resync the region was owed. */
  readonly onDelivered: (healed: boolean) => void;
}

interface Outgoing {
  readonly message: LeaderMessage;
  readonly text: string;
  /** performance.now() when it was queued. */
  readonly queuedAt: number;
}

/**
 * One region's copy of the leader's messages: a buffer drained in order, one publish at a time,
 * on the region's own connection, so a region that is down or slow holds up only itself. Only
 * messages the home fence let through are forwarded here (see LeaderTerm.publish), in seq order,
 * and they go out with the text they had at home, so clients in the region check epoch and seq
 * as they do at home. A message that does not reach the region (a failed publish, a full buffer,
 * a message too old) makes the region owe a resync: the next message that goes out in the region
 * goes out as a resync of everything under that message's own epoch and seq, in its place, so the
 * region's seq stays the home seq, and the messages still waiting are dropped as covered by it.
 */
export class RegionLink {
  readonly region: string;
  readonly #options: RegionLinkOptions;
  readonly #log: Logger;
  readonly #queue: Outgoing[] = [];
  #draining = false;
  #closed = false;
  #owesResync = false;
  #lastPublishAt: number | undefined;
  #failing: { readonly since: number; reason: string } | undefined;

  constructor(options: RegionLinkOptions) {
    this.region = options.region;
    this.#options = options;
    this.#log = options.logger;
    options.metrics.add(options.region);
  }

  /** Queues `message` (with its signed `text`) for the region; never waits for it. */
  forward(message: LeaderMessage, text: string): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#options.maxQueued) {
      this.#queue.shift();
      this.#drop('buffer-full');
    }
    this.#queue.push({ message, text, queuedAt: performance.now() });
    this.#gauge();
    if (!this.#draining) {
      this.#draining = true;
      void this.#drain().finally(() => (this.#draining = false));
    }
  }

  /** The region now. */
  report(): RegionReport {
    const failing = this.#failing;
    return {
      region: this.region,
      state: failing !== undefined ? 'failing' : this.#lastPublishAt === undefined ? 'idle' : 'ok',
      lastPublishAt: this.#lastPublishAt ?? null,
      failingSince: failing?.since ?? null,
      ...(failing === undefined ? {} : { reason: failing.reason }),
      queued: this.#queue.length,
      owesResync: this.#owesResync,
    };
  }

  /** Drops what waits and sends nothing more. Safe twice. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#gauge();
  }

  async #drain(): Promise<void> {
    while (!this.#closed) {
      // Owing a resync, only the newest message matters: it goes out as that resync.
      while (this.#owesResync && this.#queue.length > 1) {
        this.#queue.shift();
        this.#drop('covered');
      }
      const next = this.#queue.shift();
      this.#gauge();
      if (next === undefined) return;
      if (performance.now() - next.queuedAt > this.#options.maxDelayMs) {
        this.#drop('too-late');
        continue;
      }
      await this.#send(next);
    }
  }

  async #send({ message, text }: Outgoing): Promise<void> {
    const { redis, names, metrics } = this.#options;
    const { region } = this;
    // A resync of everything pays the debt by itself; anything else goes out as one.
    const owed = this.#owesResync && !(message.type === 'resync' && message.tables === undefined);
    try {
      const out = owed ? this.#options.resyncText(message) : text;
      await publish(redis, names, names.events, out);
    } catch (error) {
      const err = toError(error);
      metrics.publishFailures.inc({ region, reason: redisFailureOf(err) });
      this.#drop('failed');
      if (this.#failing === undefined) {
        this.#failing = { since: Date.now(), reason: describeRedisFailure(err) };
        metrics.up.set({ region }, 0);
        this.#log.warn({ err, region }, 'region publish failed; the region is owed a resync');
      } else {
        this.#failing.reason = describeRedisFailure(err);
      }
      return;
    }
    const healed = this.#owesResync;
    this.#owesResync = false;
    this.#lastPublishAt = Date.now();
    metrics.lastPublish.set({ region }, this.#lastPublishAt / 1000);
    if (this.#failing !== undefined) {
      this.#failing = undefined;
      metrics.up.set({ region }, 1);
    }
    if (healed) {
      metrics.resyncs.inc({ region });
      this.#log.info(
        { region, epoch: message.epoch, seq: message.seq },
        'region reached again: sent the resync it was owed',
      );
    }
    this.#options.onDelivered(healed);
  }

  #drop(reason: RegionDrop): void {
    this.#owesResync = true;
    this.#options.metrics.dropped.inc({ region: this.region, reason });
  }

  #gauge(): void {
    this.#options.metrics.queued.set({ region: this.region }, this.#queue.length);
  }
}

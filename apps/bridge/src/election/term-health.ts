import { describeRedisFailure, redisFailureOf } from '../connections/redis-failure.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';
import type { PublishResult } from './lease.ts';

/** One failing streak: since when, and the latest reason (never a value from a message). */
interface Streak {
  readonly since: number;
  readonly reason: string;
}

/** What a leader reports about its own ability to publish, for /readyz. */
export interface TermHealthReport {
  /** Why the term cannot do its job now; undefined when it can. */
  readonly problem: string | undefined;
  /** When a publish last went out (ms since the Unix epoch); null before the first. */
  readonly lastPublishAt: number | null;
}

/**
 * Whether one leadership term's publishes and lease renewals go through. A failure starts a
 * streak that the next success ends; without any answer at all (a Redis that hangs), a term
 * whose last publish is older than `silentMs` is not healthy either, since heartbeats alone
 * publish every heartbeatMs.
 */
export class TermHealth {
  readonly #metrics: BridgeMetrics;
  readonly #silentMs: number;
  readonly #since: number;
  #publishing: Streak | undefined;
  #renewing: Streak | undefined;
  #lastPublishAt: number | undefined;

  constructor(metrics: BridgeMetrics, silentMs: number, now = Date.now()) {
    this.#metrics = metrics;
    this.#silentMs = silentMs;
    this.#since = now;
  }

  /** A message went out. */
  published(now = Date.now()): void {
    this.#publishing = undefined;
    this.#lastPublishAt = now;
    this.#metrics.lastPublish.set(now / 1000);
  }

  /** A publish failed in Redis. */
  publishFailed(error: Error, now = Date.now()): void {
    this.#metrics.publishFailures.inc({ reason: redisFailureOf(error) });
    this.#publishing = {
      since: this.#publishing?.since ?? now,
      reason: describeRedisFailure(error),
    };
  }

  /** The lease fence dropped a publish (the lease is missing or another term's). */
  publishFenced(result: Exclude<PublishResult, 'published'>, now = Date.now()): void {
    this.#metrics.publishFailures.inc({ reason: result });
    const reason =
      result === 'lease-absent' ? 'the lease is missing' : 'the lease belongs to another term';
    this.#publishing = { since: this.#publishing?.since ?? now, reason };
  }

  /** The lease was renewed (or recreated). */
  renewed(): void {
    this.#renewing = undefined;
  }

  /** A renewal failed in Redis. */
  renewFailed(error: Error, now = Date.now()): void {
    this.#metrics.renewalFailures.inc({ reason: redisFailureOf(error) });
    this.#renewing = { since: this.#renewing?.since ?? now, reason: describeRedisFailure(error) };
  }

  /** The problem, if any, and when a publish last went out. */
  report(now = Date.now()): TermHealthReport {
    const streak = (what: string, s: Streak): string =>
      `${what} failing since ${new Date(s.since).toISOString()}: ${s.reason}`;
    const quietSince = this.#lastPublishAt ?? this.#since;
    const problem =
      this.#publishing !== undefined
        ? streak('publishes', this.#publishing)
        : this.#renewing !== undefined
          ? streak('lease renewal', this.#renewing)
          : now - quietSince > this.#silentMs
            ? `no publish went out for ${now - quietSince} ms (Redis not answering?)`
            : undefined;
    return { problem, lastPublishAt: this.#lastPublishAt ?? null };
  }
}

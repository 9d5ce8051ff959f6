// What the bridges said: every valid message on a namespace's events channel, in arrival order,
// as a test process subscribed to Redis sees it (the same view every app has).
import { performance } from 'node:perf_hooks';
import {
  isWorkerMessage,
  parseMessage,
  type Message,
  type Names,
  type WorkerMessage,
} from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { waitFor } from '../../support/index.ts';

/** A leader's message: everything but a reload worker's snapshot. */
export type LeaderMessage = Exclude<Message, WorkerMessage>;

/** One message and when it arrived (performance.now()). */
export interface LoggedMessage {
  readonly message: LeaderMessage;
  readonly at: number;
}

/** A subscription to `names.events` that keeps every leader message; disconnects on dispose. */
export interface EventLog extends AsyncDisposable {
  readonly entries: readonly LoggedMessage[];
  /** The text of every valid message as published, snapshots included (for replaying them). */
  readonly raw: readonly string[];
  /** The first entry at index `from` or later whose message matches, waiting up to `timeoutMs`. */
  waitFor(
    what: string,
    predicate: (message: LeaderMessage) => boolean,
    options?: { readonly timeoutMs?: number; readonly from?: number },
  ): Promise<LoggedMessage>;
  /** Messages at index `from` or later that match. */
  since(from: number, predicate?: (message: LeaderMessage) => boolean): LeaderMessage[];
}

/** Subscribes (resubscribing by itself after a Redis restart) and resolves once subscribed. */
export async function startEventLog(redisUrl: string, names: Names): Promise<EventLog> {
  const entries: LoggedMessage[] = [];
  const raw: string[] = [];
  const redis = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 50, 500),
  });
  redis.on('error', () => undefined);
  redis.on('message', (_channel: string, text: string) => {
    const parsed = parseMessage(text);
    if (parsed.ok) raw.push(text);
    if (parsed.ok && !isWorkerMessage(parsed.message)) {
      entries.push({ message: parsed.message, at: performance.now() });
    }
  });
  await redis.subscribe(names.events);
  const since = (from: number, predicate: (m: LeaderMessage) => boolean = () => true) =>
    entries
      .slice(from)
      .map((entry) => entry.message)
      .filter(predicate);
  return {
    entries,
    raw,
    since,
    async waitFor(what, predicate, { timeoutMs = 10_000, from = 0 } = {}) {
      const find = () => entries.slice(from).find((entry) => predicate(entry.message));
      await waitFor(what, () => find() !== undefined, timeoutMs);
      const found = find();
      if (found === undefined) throw new Error(`lost ${what}`);
      return found;
    },
    [Symbol.asyncDispose]() {
      redis.disconnect();
      return Promise.resolve();
    },
  };
}

/** Matches the first message of a term newer than `epoch` (its resync), optionally only for `reasons`. */
export const newTermAfter =
  (epoch: number, reasons?: readonly string[]) =>
  (message: LeaderMessage): boolean =>
    message.type === 'resync' &&
    message.epoch > epoch &&
    message.seq === 0 &&
    (reasons === undefined || reasons.includes(message.reason));

import type { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';

// Resolves with `promise`'s value, or undefined once `ms` passed (the timer is cleared).
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether a queue's own Redis connection answers now: ready, and a PING answered within the
 * timeout. At most one PING is in flight, so asking often while the Redis hangs (no answer, no
 * error) piles nothing up on the connection.
 */
export class QueueReachability {
  readonly #redis: Redis | Cluster | undefined;
  readonly #timeoutMs: number;
  #ping: Promise<boolean> | undefined;

  constructor(queue: Queue, timeoutMs: number) {
    // The connection the queue was given (ours always are ioredis connections): the one every
    // command of the board goes through.
    const { connection } = queue.opts;
    this.#redis =
      connection instanceof Redis || connection instanceof Cluster ? connection : undefined;
    this.#timeoutMs = timeoutMs;
  }

  /** True when the queue's Redis answered a PING within the timeout (or cannot be asked: not ours). */
  async answers(): Promise<boolean> {
    const redis = this.#redis;
    if (redis === undefined) return true;
    // Down, reconnecting, or never connected yet (a region down since the bridge started).
    if (redis.status !== 'ready') return false;
    this.#ping ??= redis
      .ping()
      .then(
        () => true,
        () => false,
      )
      .finally(() => (this.#ping = undefined));
    return (await within(this.#ping, this.#timeoutMs)) === true;
  }
}

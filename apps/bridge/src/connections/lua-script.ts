import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-connection.ts';

/**
 * A Lua script run by EVALSHA (one round trip, the script text sent only once), falling back to
 * EVAL when Redis answers NOSCRIPT, as it does after a restart or SCRIPT FLUSH. ioredis'
 * defineCommand does the same but yields untyped methods.
 */
export class LuaScript {
  readonly #source: string;
  readonly #sha: string;
  readonly #keys: number;

  constructor(source: string, keys: number) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
    this.#keys = keys;
  }

  /** Runs the script with exactly `keys.length` (as declared) keys, then `args`. */
  async run(
    redis: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    if (keys.length !== this.#keys) throw new TypeError(`expected ${this.#keys} keys`);
    try {
      return await redis.evalsha(this.#sha, this.#keys, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await redis.eval(this.#source, this.#keys, ...keys, ...args);
    }
  }
}

import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * Policies under which Redis may delete keys that have no TTL: snapshot keys, their version
 * counters and BullMQ's job records are all such keys, and losing them silently costs reloads
 * (a lost counter starts a new generation) or jobs (BullMQ warns about the same).
 */
const EVICTING = /^allkeys-/;

/**
 * Warns once when Redis may evict our keys (`maxmemory-policy` other than `noeviction` or a
 * `volatile-*` one). Returns the policy, or undefined when it cannot be read (CONFIG is often
 * denied by ACLs or renamed by managed Redis): then nothing is said beyond a debug line.
 */
export async function checkEvictionPolicy(
  redis: Redis,
  logger: Logger,
): Promise<string | undefined> {
  let policy: string | undefined;
  try {
    const reply: unknown = await redis.config('GET', 'maxmemory-policy');
    policy = policyOf(reply);
  } catch (error) {
    logger.debug({ err: error }, 'cannot read maxmemory-policy');
    return undefined;
  }
  if (policy !== undefined && EVICTING.test(policy)) {
    logger.warn(
      { policy },
      `Redis maxmemory-policy is ${policy}: it may evict snapshots, their version counters and reload jobs; use noeviction`,
    );
  }
  return policy;
}

// RESP2 answers [name, value]; RESP3 a map, which ioredis gives as an object.
function policyOf(reply: unknown): string | undefined {
  if (Array.isArray(reply)) return typeof reply[1] === 'string' ? reply[1] : undefined;
  if (typeof reply === 'object' && reply !== null) {
    const value = (reply as Record<string, unknown>)['maxmemory-policy'];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

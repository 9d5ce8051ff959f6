import type { RedisClient } from '../connections/redis-connection.ts';
import type { Logger } from 'pino';

/**
 * Policies under which Redis may delete keys that have no TTL: snapshot keys, their version
 * counters and BullMQ's job records are all such keys, and losing them silently costs reloads
 * (a lost counter starts a new generation) or jobs (BullMQ warns about the same).
 */
const EVICTING = /^allkeys-/;

/**
 * Warns once when Redis may evict our keys (`maxmemory-policy` other than `noeviction` or a
 * `volatile-*` one). Read from INFO, which every role may run (CONFIG GET would also reveal
 * passwords, so least-privilege users are denied it). Returns the policy, or undefined when it
 * cannot be read (a managed Redis may hide it): then nothing is said beyond a debug line.
 */
export async function checkEvictionPolicy(
  redis: RedisClient,
  logger: Logger,
): Promise<string | undefined> {
  let policy: string | undefined;
  try {
    policy = /^maxmemory_policy:(\S+)/m.exec(await redis.info('memory'))?.[1];
  } catch (error) {
    logger.debug({ err: error }, 'cannot read maxmemory-policy');
    return undefined;
  }
  if (policy === undefined) {
    logger.debug('INFO memory has no maxmemory_policy');
  } else if (EVICTING.test(policy)) {
    logger.warn(
      { policy },
      `Redis maxmemory-policy is ${policy}: it may evict snapshots, their version counters and reload jobs; use noeviction`,
    );
  }
  return policy;
}

import type { Names } from '@pg-static-cache/protocol';
import type { Queue } from 'bullmq';
import type { RedisClient } from '../connections/redis-connection.ts';

/** The reload queue as `status` shows it. */
export interface QueueState {
  /** Paused (Bull Board or BullMQ): jobs wait, no snapshot is stored until it is resumed. */
  readonly paused: boolean;
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
}

/**
 * Reads whether the reload queue of `names` is paused and its job counts on `redis` (left open)
 * with read-only commands on BullMQ's keys (`<prefix>:<queue>:meta`, `wait`, `paused`, `active`,
 * `delayed`, `failed`): a BullMQ Queue object writes its meta key when created, which a read-only
 * `status` user (deploy/redis-users.acl, ops) may not do. Checked against BullMQ's own counts in a
 * test.
 */
export async function readQueueState(
  redis: RedisClient,
  names: Pick<Names, 'queue' | 'queuePrefix'>,
): Promise<QueueState> {
  const key = (name: string) => `${names.queuePrefix}:${names.queue}:${name}`;
  const replies = await redis
    .multi()
    .hexists(key('meta'), 'paused')
    .llen(key('wait'))
    .llen(key('paused'))
    .llen(key('active'))
    .zcard(key('delayed'))
    .zcard(key('failed'))
    .exec();
  const values = (replies ?? []).map(([error, value]) => {
    if (error !== null) throw error;
    return Number(value);
  });
  const [paused = 0, wait = 0, pausedJobs = 0, active = 0, delayed = 0, failed = 0] = values;
  // Jobs of a paused queue wait in `paused` (BullMQ before 6) or stay in `wait`.
  return { paused: paused === 1, waiting: wait + pausedJobs, active, delayed, failed };
}

/** Reads whether `queue` is paused and its job counts (BullMQ getJobCounts). */
export async function queueStateOf(queue: Queue): Promise<QueueState> {
  const [paused, counts] = await Promise.all([
    queue.isPaused(),
    queue.getJobCounts('waiting', 'active', 'delayed', 'failed'),
  ]);
  return {
    paused,
    waiting: counts['waiting'] ?? 0,
    active: counts['active'] ?? 0,
    delayed: counts['delayed'] ?? 0,
    failed: counts['failed'] ?? 0,
  };
}

import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The reload queue as `status` shows it. */
export interface QueueState {
  /** Paused (Bull Board or BullMQ): jobs wait, no snapshot is stored until it is resumed. */
  readonly paused: boolean;
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
}

/** Reads whether `queueName` is paused and its job counts, on `redis` (left open). */
export async function readQueueState(redis: Redis, queueName: string): Promise<QueueState> {
  const queue = new Queue(queueName, { connection: redis });
  try {
    return await queueStateOf(queue);
  } finally {
    // A connection passed in is shared: close() leaves it to its owner.
    await queue.close();
  }
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

import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisUrl } from '@pg-static-cache/test-support';
import { queueStateOf, readQueueState } from './queue-state.ts';

const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

describe('readQueueState', () => {
  it('counts what BullMQ counts, with read-only commands on its keys', async () => {
    const name = `psc-queue-state-${randomBytes(4).toString('hex')}`;
    const names = { queue: name, queuePrefix: 'bull' };
    const queue = new Queue(name, { connection: redis });
    try {
      await queue.add('a', {});
      await queue.add('b', {});
      await queue.add('c', {}, { delay: 60_000 });
      expect(await readQueueState(redis, names)).toEqual(await queueStateOf(queue));
      await queue.pause();
      const paused = await readQueueState(redis, names);
      expect(paused).toEqual(await queueStateOf(queue));
      expect(paused).toMatchObject({ paused: true, waiting: 2, delayed: 1 });
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

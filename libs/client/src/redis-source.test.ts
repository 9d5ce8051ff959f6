// RedisSource against a real Redis, driven by messages the test publishes itself: ordering,
// validation, re-subscribing and the heartbeat watchdog. No Postgres, no bridge.
import { namesFor, serializeMessage, Signer, type Message } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrl, uniqueName, waitFor } from '@pg-static-cache/test-support';
import type { ClientError } from './errors.ts';
import { RedisSource, type RedisSourceOptions } from './redis-source.ts';

const FAST = { baseMs: 20, capMs: 200 } as const;
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function connect(options: { connectionName?: string } = {}): Redis {
  const redis = new Redis(redisUrl(), options);
  redis.on('error', () => undefined);
  cleanups.push(() => redis.quit().catch(() => undefined));
  return redis;
}

/** A started source on a fresh namespace, everything it emits as short strings, and a publisher. */
async function started(options: Partial<RedisSourceOptions> = {}) {
  const namespace = uniqueName('ns');
  const source = new RedisSource({ redis: redisUrl(), namespace, backoff: FAST, ...options });
  cleanups.push(() => source.close());
  const events: string[] = [];
  source.on('invalidate', (oid) => events.push(`invalidate ${oid}`));
  source.on('resync', ({ cause, tables }) =>
    events.push(`resync ${cause}${tables === undefined ? '' : ` ${tables.join(',')}`}`),
  );
  source.on('invalid', (reason) => events.push(`invalid ${reason}`));
  source.on('dropped', (reason) => events.push(`dropped ${reason}`));
  source.on('heartbeatMissed', () => events.push('heartbeat missed'));
  source.on('status', (status) => events.push(`status ${status}`));
  await source.start();
  const publisher = connect();
  const channel = namesFor(namespace).events;
  const publish = async (message: Message | string, signer?: Signer) => {
    const text = typeof message === 'string' ? message : serializeMessage(message, signer);
    await publisher.publish(channel, text);
  };
  return { source, events, publish, namespace };
}

const leader = { v: 1, bridge: 'test-bridge', at: 1 } as const;
const heartbeat = (epoch: number, seq: number): Message => ({
  ...leader,
  type: 'heartbeat',
  epoch,
  seq,
});
const invalidate = (epoch: number, seq: number, oid: number): Message => ({
  ...leader,
  type: 'invalidate',
  table: 'public.t',
  oid,
  lsn: '0/1',
  epoch,
  seq,
});

describe('RedisSource', () => {
  it('is subscribed when start() resolves: a message published at once arrives', async () => {
    const { source, events, publish } = await started();
    expect(source.status).toBe('ready');
    await publish(invalidate(1, 1, 42));
    await waitFor('the invalidate', () => events.includes('invalidate 42'));
    expect(events).toEqual(['status ready', 'invalidate 42']);
    await source.close();
    await source.close();
    expect(source.status).toBe('closed');
  });

  it('applies in-order messages, resyncs on gaps and new epochs, drops the rest', async () => {
    const { events, publish } = await started();
    const snapshot = {
      v: 1,
      type: 'snapshot',
      table: 'public.t',
      oid: 5,
      version: 1,
      generation: 'g',
      key: 'k',
      digest: 'a'.repeat(64),
      lsn: '0/1',
      at: 1,
      worker: 'w',
    } as const;
    const sent: (Message | string)[] = [
      heartbeat(2, 10),
      invalidate(2, 11, 100),
      { ...leader, type: 'resync', reason: 'manual', epoch: 2, seq: 12, tables: ['public.a'] },
      invalidate(2, 11, 100),
      heartbeat(2, 15),
      invalidate(1, 16, 100),
      invalidate(3, 0, 7),
      invalidate(3, 1, 7),
      snapshot,
      'garbage',
      JSON.stringify({ ...invalidate(3, 2, 7), v: 2 }),
      JSON.stringify({ ...invalidate(3, 2, 7), oid: 'x' }),
      'x'.repeat(70_000),
      { ...leader, type: 'resync', reason: 'scheduled', epoch: 3, seq: 2 },
      invalidate(3, 3, 8),
    ];
    for (const message of sent) await publish(message);
    await waitFor('the last message', () => events.includes('invalidate 8'));
    expect(events).toEqual([
      'status ready',
      'invalidate 100',
      'resync message public.a',
      // Unsigned, a message behind the position held may be the real leader behind a forged
      // position: it is followed, and a resync covers whatever the forgery hid.
      'dropped duplicate',
      'resync out-of-order',
      'resync gap',
      'dropped stale-epoch',
      'resync out-of-order',
      'resync new-epoch',
      'invalidate 7',
      'invalid not-json',
      'invalid unknown-version',
      'invalid invalid',
      'invalid too-large',
      'resync message',
      'invalidate 8',
    ]);
  });

  it('with a signing key: drops unsigned and badly signed messages, and replays without a resync', async () => {
    const key = 'k'.repeat(32);
    const { events, publish } = await started({ signer: new Signer([key]) });
    const ours = new Signer([key]);
    const forger = new Signer(['f'.repeat(32)]);
    await publish(invalidate(2, 1, 100), ours);
    await publish(invalidate(2, 2, 101));
    await publish(invalidate(2, 2, 102), forger);
    // The forger's position would have hidden the leader's next messages; unsigned, it is refused.
    await publish(invalidate(900, 0, 103));
    // A replay of a signed message: old news, dropped without a reload.
    await publish(invalidate(2, 1, 100), ours);
    await publish(invalidate(2, 2, 104), ours);
    await waitFor('the last message', () => events.includes('invalidate 104'));
    expect(events).toEqual([
      'status ready',
      'invalidate 100',
      'invalid unsigned',
      'invalid bad-signature',
      'invalid unsigned',
      'dropped duplicate',
      'invalidate 104',
    ]);
  });

  it('verification can follow signing: without a key, a signed message is read unchecked', async () => {
    const { events, publish } = await started();
    await publish(invalidate(2, 1, 100), new Signer(['k'.repeat(32)]));
    await waitFor('the invalidate', () => events.includes('invalidate 100'));
  });

  it('subscribes again after losing its connection, resyncs, and forgets the old epoch', async () => {
    const name = uniqueName('psc_source');
    const app = connect({ connectionName: name });
    await app.ping();
    // The app's own instance: duplicated (same options, so same name), never closed by the source.
    const { source, events, publish } = await started({ redis: app });
    await publish(invalidate(5, 1, 1));
    await waitFor('the first invalidate', () => events.includes('invalidate 1'));
    const list = String(await app.client('LIST'));
    const ids = list
      .split('\n')
      .filter((line) => line.includes(`name=${name} `) && line.includes('cmd=subscribe'))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
    expect(ids).toHaveLength(1);
    await app.client('KILL', 'ID', String(ids[0]));
    await waitFor('the resync after re-subscribing', () => events.includes('resync reconnect'));
    // A Redis restart would have lost the epoch counter: a lower epoch is a legitimate leader now.
    await publish(invalidate(1, 1, 2));
    await waitFor('the invalidate of epoch 1', () => events.includes('invalidate 2'));
    expect(events).toEqual([
      'status ready',
      'invalidate 1',
      'status reconnecting',
      'status ready',
      'resync reconnect',
      'invalidate 2',
    ]);
    await source.close();
    expect(await app.ping()).toBe('PONG');
  });

  it('goes reconnecting when the leader is silent and resyncs when it is heard again', async () => {
    const { source, events, publish } = await started({ bridgeSilenceMs: 300 });
    // Nobody publishes: a client started without a bridge turns stale after the deadline.
    await waitFor('the watchdog', () => source.status === 'reconnecting');
    await publish(heartbeat(4, 9));
    await waitFor('ready again', () => source.status === 'ready');
    expect(events).toEqual([
      'status ready',
      'heartbeat missed',
      'status reconnecting',
      'status ready',
      'resync silence',
    ]);
  });

  it('recovers at once from a forged seq ahead of the leader (unsigned)', async () => {
    const { events, publish } = await started({ bridgeSilenceMs: 60_000 });
    await publish(heartbeat(2, 1));
    // A forged position: the leader's next messages look like replays of it.
    await publish(invalidate(2, 1e12, 9));
    await publish(heartbeat(2, 2));
    await publish(invalidate(2, 3, 10));
    await waitFor('a real invalidate to work again', () => events.includes('invalidate 10'));
    expect(events).toEqual([
      'status ready',
      'resync gap',
      'dropped duplicate',
      'resync out-of-order',
      'invalidate 10',
    ]);
  });

  it('fails to start when Redis cannot be reached, and can still be closed', async () => {
    const source = new RedisSource({ redis: 'redis://127.0.0.1:1', backoff: FAST });
    const warnings: Error[] = [];
    source.on('warning', (error) => warnings.push(error));
    const error = await source.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(warnings.map((w) => w.message).join()).toMatch(/ECONNREFUSED/);
    await source.close();
    expect(source.status).toBe('closed');
    const again = await source.start().catch((e: unknown) => e);
    expect((again as ClientError).code).toBe('ALREADY_STARTED');
  });
});

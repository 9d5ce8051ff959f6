// One region's link against a real Redis of its own, stopped and started: its buffer stays bounded
// while the region is down, and the first message that reaches it again is the resync it was owed,
// under that message's own epoch and seq.
import { namesFor, parseMessage, serializeMessage, type Message } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startPrivateRedis } from '@pg-static-cache/test-support/fixtures/private-redis';
import { waitFor } from '@pg-static-cache/test-support';
import { createRedis } from '../connections/redis-connection.ts';
import { RegionMetrics } from '../ops/region-metrics.ts';
import type { LeaderMessage } from './publisher.ts';
import { RegionLink } from './region-link.ts';

const NAMES = namesFor('psc_region_link');
const CHANNEL = NAMES.events;

function heartbeat(seq: number): LeaderMessage {
  return { v: 1, type: 'heartbeat', seq, at: Date.now(), bridge: 'b1', epoch: 7 };
}

describe('RegionLink', () => {
  it('stays bounded while the region is down, then sends the owed resync in the seq it replaces', async () => {
    await using region = await startPrivateRedis();
    const logger = pino({ level: 'silent' });
    const registry = new Registry();
    const metrics = new RegionMetrics(registry);
    const redis = createRedis(region.url, 'region', logger, { commandTimeoutMs: 1_000 });
    const delivered: boolean[] = [];
    const link = new RegionLink({
      region: 'a',
      redis,
      names: NAMES,
      resyncText: (m) =>
        serializeMessage({ ...m, v: 1, type: 'resync', reason: 'reconnect', at: Date.now() }),
      maxQueued: 3,
      maxDelayMs: 60_000,
      metrics,
      logger,
      onDelivered: (healed) => delivered.push(healed),
    });
    const heard: Message[] = [];
    const subscriber = new Redis(region.url, { retryStrategy: () => 50 });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, text: string) => {
      const parsed = parseMessage(text);
      if (parsed.ok) heard.push(parsed.message);
    });
    try {
      await redis.connect();
      await subscriber.subscribe(CHANNEL);
      const send = (seq: number) => {
        const message = heartbeat(seq);
        link.forward(message, serializeMessage(message));
      };
      send(0);
      await waitFor('the first heartbeat', () => heard.length === 1);
      expect(link.report()).toMatchObject({ state: 'ok', owesResync: false, queued: 0 });

      await region.stop();
      for (let seq = 1; seq <= 50; seq += 1) send(seq);
      expect(link.report().queued).toBeLessThanOrEqual(3);
      // Two attempts: the message in flight when Redis stopped, then the newest as the owed resync.
      // Both over before Redis returns, so no publish of the outage reaches the region late.
      await waitFor('both attempts to fail', async () => {
        const failed = (await metrics.dropped.get()).values.find(
          (v) => v.labels.reason === 'failed',
        );
        return failed?.value === 2 && link.report().queued === 0;
      });
      expect(link.report().state).toBe('failing');
      expect(link.report()).toMatchObject({ owesResync: true });
      expect(link.report().reason).toMatch(/^Redis unreachable/);

      await region.start();
      await waitFor('the subscriber to be back', async () => {
        const reply: unknown = await redis.pubsub('NUMSUB', CHANNEL).catch(() => []);
        return Array.isArray(reply) && Number(reply[1]) === 1;
      });
      send(51);
      await waitFor('the owed resync', () => heard.some((m) => m.type === 'resync'));
      expect(heard).toHaveLength(2);
      expect(heard[1]).toMatchObject({ type: 'resync', reason: 'reconnect', seq: 51, epoch: 7 });
      expect(link.report()).toMatchObject({ state: 'ok', owesResync: false, queued: 0 });
      expect(delivered).toEqual([false, true]);
      // Paid: the next message goes out as itself.
      send(52);
      await waitFor('the next heartbeat', () => heard.length === 3);
      expect(heard[2]).toMatchObject({ type: 'heartbeat', seq: 52 });
      const page = await registry.metrics();
      expect(page).toMatch(
        /psc_bridge_region_messages_dropped_total\{region="a",reason="buffer-full"\} [1-9]/,
      );
      expect(page).toMatch(/psc_bridge_region_resyncs_total\{region="a"\} 1/);
    } finally {
      link.close();
      subscriber.disconnect();
      redis.disconnect();
    }
  });
});

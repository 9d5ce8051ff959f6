// One app's path to Redis loses pub/sub messages that the other apps receive (a proxy drops them
// whole, the connection stays valid): that app must notice what it missed and converge.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisUrl, tableDigest, waitFor } from '../support/index.ts';
import { reloadReasons, waitConverged } from './support/convergence.ts';
import { startPausableProxy, type PausableProxy } from './support/pausable-proxy.ts';
import { APP_BRIDGE_SILENCE_MS, startScenario, type Scenario } from './support/scenario.ts';
import { TABLES } from './support/tables.ts';

/** Commits and waits until every app but the first (whose messages go nowhere) has the change. */
async function missedByFirstApp(s: Scenario): Promise<void> {
  const [lossy, ...others] = s.apps;
  if (lossy === undefined) throw new Error('no apps');
  await s.tables.changeAll();
  await waitConverged(others, s.tables.pool, TABLES, 10_000);
  expect(lossy.digestOf('alpha')).not.toBe(await tableDigest(s.tables.pool, 'alpha'));
}

/** Like {@link missedByFirstApp}, through a paused proxy that is seen to drop the announcements. */
async function loseAChange(s: Scenario, proxy: PausableProxy): Promise<void> {
  const dropped = proxy.dropped();
  await missedByFirstApp(s);
  expect(proxy.dropped()).toBeGreaterThan(dropped);
}

/** Kills the proxied connections from the Redis side. */
async function clientKill(proxy: PausableProxy): Promise<void> {
  const admin = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  try {
    for (const addr of proxy.upstreamAddresses()) {
      // The filter form answers with how many clients it killed.
      expect(await admin.client('KILL', 'ADDR', addr)).toBe(1);
    }
  } finally {
    admin.disconnect();
  }
}

describe('e2e: messages lost on the way to one app', () => {
  it('the app catches up after a seq gap, and after its connection is killed', async () => {
    await using proxy = await startPausableProxy(redisUrl());
    await using s = await startScenario({
      prefix: 'e2e_lost',
      appRedisUrl: (index) => (index === 0 ? proxy.url : redisUrl()),
    });
    const lossy = s.apps[0];
    if (lossy === undefined) throw new Error('no apps');
    // The lossy app knows where the leader's seq stands before it starts losing messages.
    await waitFor('a message to reach the lossy app', () => proxy.delivered() > 0);

    let mark = lossy.events.length;
    proxy.pause();
    await loseAChange(s, proxy);
    proxy.resume();
    await s.converged();
    expect(reloadReasons(lossy, mark)).toContain('resync');

    mark = lossy.events.length;
    proxy.pause();
    await loseAChange(s, proxy);
    await clientKill(proxy);
    proxy.resume();
    await s.converged();
    expect(reloadReasons(lossy, mark)).toContain('reconnect');
  });

  // A subscription on a dead path (no FIN, no RST: a lost NAT entry, a dead link) delivers
  // nothing. Once the bridge seems silent the app PINGs its subscription and, without an answer,
  // replaces it, rather than waiting for TCP keepalive to give up many minutes later.
  it('the app replaces a subscription that went silent on a dead path', async () => {
    await using proxy = await startPausableProxy(redisUrl());
    await using s = await startScenario({
      prefix: 'e2e_dead',
      appRedisUrl: (index) => (index === 0 ? proxy.url : redisUrl()),
    });
    expect(proxy.freeze()).toBe(1);
    await missedByFirstApp(s);
    // Silence shows after APP_BRIDGE_SILENCE_MS; a new subscription takes moments after that.
    await s.converged(3 * APP_BRIDGE_SILENCE_MS);
  });
});

// End to end through a real bridge: a change the triggers do not announce (trigger disabled) is
// found by the scheduled resync's digest and invalidated on Redis, and /metrics counts it.
import { startBridge, type ResyncReport } from '@pg-static-cache/bridge';
import { installTriggers } from '@pg-static-cache/postgres';
import { namesFor, parseMessage, type Message } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createTestSchema, redisUrl, uniqueName, waitFor } from '../support/index.ts';

async function driftCounter(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await response.text();
  const match = /^psc_bridge_drift_tables_total (\d+)$/m.exec(text);
  if (match?.[1] === undefined) throw new Error('no psc_bridge_drift_tables_total in /metrics');
  return Number(match[1]);
}

describe('bridge: scheduled resync', () => {
  it('invalidates a table changed behind a disabled trigger, and counts the drift', async () => {
    await using s = await createTestSchema('psc_drift');
    const channel = uniqueName('psc_drift');
    const namespace = uniqueName('drift');
    const functionName = `${s.schema}.notify`;
    await s.pool.query('CREATE TABLE items (id int PRIMARY KEY, label text)');
    const [table] = await installTriggers(s.pool, ['items'], { channel, functionName });
    if (table === undefined) throw new Error('no table');

    const received: Message[] = [];
    const subscriber = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, text: string) => {
      const parsed = parseMessage(text);
      if (parsed.ok) received.push(parsed.message);
    });
    try {
      await subscriber.subscribe(namesFor(namespace).events);
      await using bridge = await startBridge({
        databaseUrl: s.url,
        redisUrl: redisUrl(),
        namespace,
        channel,
        functionName,
        resyncSchedule: '*/1 * * * * *',
        httpPort: 0,
        logger: pino({ level: 'silent' }),
      });
      const reports: ResyncReport[] = [];
      bridge.on('report', (report) => reports.push(report));
      const invalidates = (source: readonly Message[]) =>
        source.filter((m) => m.type === 'invalidate' && m.table === table.display);

      // The first report only records the baseline digest.
      await waitFor('the leader to report', () => reports.length > 0, 15_000);
      expect(reports[0]?.tables.map((t) => t.table)).toEqual([table.display]);

      // An announced change is not drift: the trigger's invalidate covers it.
      await s.pool.query(`INSERT INTO items VALUES (1, 'announced')`);
      await waitFor('the trigger-driven invalidate', () => invalidates(received).length === 1);
      const afterAnnounced = reports.length;
      await waitFor('two runs after it', () => reports.length >= afterAnnounced + 2, 10_000);
      expect(reports.slice(afterAnnounced).map((r) => r.drifted)).toEqual(
        reports.slice(afterAnnounced).map(() => 0),
      );
      expect(invalidates(received)).toHaveLength(1);

      // Behind a disabled trigger nothing is announced; only the digest sees the change.
      await s.pool.query(`ALTER TABLE items DISABLE TRIGGER ${channel}`);
      await s.pool.query(`UPDATE items SET label = 'silent' WHERE id = 1`);
      await waitFor('the drift invalidate', () => invalidates(received).length === 2, 10_000);
      expect(invalidates(received)[1]).toMatchObject({ oid: table.oid, epoch: bridge.epoch });
      await waitFor('the drift report', () => reports.some((r) => r.drifted > 0));
      const drifted = reports.find((r) => r.drifted > 0);
      expect(drifted?.tables[0]).toMatchObject({ drifted: true, trigger: { state: 'disabled' } });
      expect(await driftCounter(bridge.httpPort)).toBeGreaterThan(0);

      // A dropped trigger takes the table out of discovery, yet it stays watched: still repaired.
      await s.pool.query(`DROP TRIGGER ${channel} ON items`);
      await s.pool.query(`UPDATE items SET label = 'unwatched?' WHERE id = 1`);
      await waitFor(
        'the drift invalidate after DROP TRIGGER',
        () => invalidates(received).length === 3,
        10_000,
      );
      await waitFor('a report naming the missing trigger', () =>
        reports.some((r) => r.tables.some((t) => t.drifted && t.trigger.state === 'missing')),
      );
    } finally {
      subscriber.disconnect();
    }
  });
});

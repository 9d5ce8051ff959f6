// Redis is untrusted input. A thousand random, garbage and forged messages on the channel must not
// crash the subscriber, make it run any SQL but the SELECTs of its own caches, or reload a cache no
// message named; every unreadable one is counted, and a real invalidate afterwards still works.
import type { AnyCache } from '@pg-static-cache/client';
import { resolveTable, selectRowsSql, type ResolvedTable } from '@pg-static-cache/postgres';
import { MAX_MESSAGE_BYTES, parseMessage, Signer, type Message } from '@pg-static-cache/protocol';
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { waitConverged } from '../support/fixtures/direct-mode.ts';
import { redisUrl, waitFor } from '../support/index.ts';
import { FakeBridge, reasonsSince, watchRedis } from './fake-bridge.ts';
import { recordQueries } from '../support/recorded-queries.ts';

const SAMPLES = 1_000;
const LEADER_EPOCH = 5;

/** One thing published: raw text, or a well-formed message the current leader signs in order. */
type Sample =
  | { readonly kind: 'raw'; readonly text: string }
  | { readonly kind: 'invalidate'; readonly oid: number; readonly table: string }
  | { readonly kind: 'resync'; readonly tables: readonly string[] }
  | { readonly kind: 'stale'; readonly epoch: number; readonly oid: number };

const POLLUTING = [
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '{"v":1,"type":"invalidate","__proto__":{"polluted":1},"table":"x.y","oid":1,"seq":1,"lsn":"0/1","at":1,"bridge":"b","epoch":5}',
  '{"v":1,"type":"resync","reason":"manual","seq":1,"at":1,"bridge":"b","epoch":5,"tables":["__proto__"],"__proto__":{"tables":["x"]}}',
];

const template = {
  v: 1,
  type: 'invalidate',
  table: 'public.alpha',
  oid: 1,
  seq: 1,
  lsn: '0/1',
  at: 1,
  bridge: 'b',
  epoch: LEADER_EPOCH,
};
const notANumber = fc.oneof(
  fc.string(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.nat()),
  fc.dictionary(fc.string(), fc.nat()),
);
const notAString = fc.oneof(
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.string()),
  fc.dictionary(fc.string(), fc.string()),
);
/** A message of the right shape with one field of the wrong type: never valid. */
const wrongType = fc.oneof(
  fc.record({ field: fc.constantFrom('v', 'oid', 'seq', 'at', 'epoch'), value: notANumber }),
  fc.record({ field: fc.constantFrom('type', 'table', 'lsn', 'bridge'), value: notAString }),
);

type Named = Pick<ResolvedTable, 'oid' | 'display'>;

/** The samples for one run; `held` is the one cached table they may name, `unheld` exists uncached. */
function samples(held: Named, unheld: Named, seed: number, deposed: boolean): Sample[] {
  const names = fc.oneof(
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'public.nothing'),
    fc.constantFrom(unheld.display, held.display),
    fc.string({ minLength: 1, maxLength: 512 }),
  );
  const oids = fc.oneof(
    fc.constantFrom(unheld.oid, held.oid),
    fc.integer({ min: 1, max: 0xffff_ffff }),
  );
  const raw = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.json(),
    fc.constantFrom(...POLLUTING),
    wrongType.map(({ field, value }) => JSON.stringify({ ...template, [field]: value })),
    // Over the size limit, both as garbage and as a message padded to look legitimate.
    fc.constant('x'.repeat(MAX_MESSAGE_BYTES + 1)),
    fc.constant(JSON.stringify({ ...template, table: 'p'.repeat(MAX_MESSAGE_BYTES) })),
  );
  const sample: fc.Arbitrary<Sample> = fc.oneof(
    { arbitrary: raw.map((text) => ({ kind: 'raw' as const, text })), weight: 6 },
    {
      arbitrary: fc.record({ kind: fc.constant('invalidate'), oid: oids, table: names }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('resync'),
        tables: fc.array(names, { minLength: 1, maxLength: 5 }),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('stale'),
        epoch: fc.integer({ min: 0, max: LEADER_EPOCH - 1 }),
        oid: oids,
      }),
      weight: 1,
    },
  );
  return fc.sample(sample, { numRuns: SAMPLES, seed }).filter((s) => deposed || s.kind !== 'stale');
}

/** A pool that records every SQL text sent through it. */
function recordingPool(url: string, queries: string[]): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  recordQueries(pool, queries);
  return pool;
}

/** What the subscriber's reloads of `cache` send: built here the way the subscriber builds it. */
function selectOf(cache: AnyCache): string {
  const table = cache.table;
  if (table === undefined) throw new Error('not resolved');
  return selectRowsSql(table, { orderBy: table.primaryKey });
}

const KEY = 'fuzz-signing-key-0123456789';

describe('redis mode: untrusted messages', () => {
  // Unsigned, an older epoch may be the real leader behind a forged newer one: the client follows
  // it with a resync (messages.test.ts), so deposed leaders only take part in the signed run, where
  // an older epoch can only be a replay.
  it.each([
    { signed: false, deposed: false },
    { signed: true, deposed: true },
  ])(
    'survives a thousand random and forged messages and only ever reloads what it holds (%o)',
    async ({ signed, deposed: withDeposed }) => {
      const seed = Date.now();
      const signer = new Signer(signed ? [KEY] : []);
      const queries: string[] = [];
      let pool: pg.Pool | undefined;
      await using env = await watchRedis(['alpha', 'beta'], {
        // gamma exists but is not cached: forged messages will name it.
        setupSql: `CREATE TABLE gamma (id int PRIMARY KEY); INSERT INTO gamma VALUES (1)`,
        pool: (url) => (pool = recordingPool(url, queries)),
        ...(signed ? { signingKey: KEY } : {}),
      });
      try {
        const { subscriber, bridge, caches } = env;
        const [alpha, beta] = caches;
        if (alpha === undefined || beta === undefined) throw new Error('no cache');
        const statusesAtStart = env.statuses.length;
        queries.length = 0;
        const gamma = await resolveTable(env.schema.pool, 'gamma');
        bridge.epoch = LEADER_EPOCH;
        // The client learns the leader's epoch from its first message; only then is an older one stale.
        await bridge.heartbeat();
        await using deposed = new FakeBridge(redisUrl(), env.namespace);
        deposed.signer = signer;

        const list = samples(env.tableOf(0), gamma, seed, withDeposed);
        const expected = { invalid: 0, byReason: new Map<string, number>(), invalidates: 0 };
        let stale = 0;
        let resyncs = 0;
        for (const sample of list) {
          switch (sample.kind) {
            case 'raw': {
              const parsed = parseMessage(sample.text, signer);
              // Random text is never a message; if it ever were, it could move seq and the test would lie.
              expect(parsed.ok, `seed ${seed}: ${sample.text.slice(0, 200)}`).toBe(false);
              if (!parsed.ok) {
                expected.invalid += 1;
                expected.byReason.set(
                  parsed.reason,
                  (expected.byReason.get(parsed.reason) ?? 0) + 1,
                );
              }
              await bridge.publishRaw(sample.text);
              break;
            }
            case 'invalidate': {
              // Well-formed and in order, as a forger who knows epoch and seq would send it.
              const message: Message = {
                ...bridge.leaderFields(),
                type: 'invalidate',
                table: sample.table,
                oid: sample.oid,
                lsn: '0/1',
              };
              expected.invalidates += 1;
              await bridge.publish(message);
              break;
            }
            case 'resync':
              resyncs += 1;
              await bridge.resync(sample.tables);
              break;
            case 'stale':
              stale += 1;
              deposed.epoch = sample.epoch;
              await deposed.invalidate({ oid: sample.oid, display: 'public.whatever' });
              break;
          }
        }

        // Messages keep their order on a channel: once this real one is applied, all the above were.
        await env.schema.pool.query(`UPDATE alpha SET label = 'real' WHERE id = 1`);
        await bridge.invalidate(env.tableOf(0));
        await waitFor(`seed ${seed}: every message handled`, () => {
          return subscriber.stats.notifications === expected.invalidates + 1;
        });
        await waitConverged(env.schema.pool, [alpha]);
        await subscriber.idle();

        expect(alpha.get(1)).toEqual({ id: 1, label: 'real' });
        const stats = subscriber.stats;
        expect(stats.invalid).toBe(expected.invalid);
        for (const [reason, count] of expected.byReason) {
          expect(stats.invalidByReason[reason as keyof typeof stats.invalidByReason]).toBe(count);
        }
        expect(stats.staleEpoch).toBe(stale);
        expect(stats.resyncs).toBe(resyncs);
        expect([stats.gaps, stats.duplicates, stats.heartbeatsMissed]).toEqual([0, 0, 0]);
        // Messages named alpha, gamma and made-up tables, never beta: nothing reloaded beta, and the
        // only SQL that ran is alpha's own SELECT, and the catalog look-up of the configured table
        // names that an unknown OID prompts (folded to about one a second).
        expect(reasonsSince(env, 2)['beta']).toBeUndefined();
        const nameChecks = queries.filter((q) => q.includes('pg_catalog.to_regclass(u.name)'));
        expect(new Set(queries.filter((q) => !nameChecks.includes(q)))).toEqual(
          new Set([selectOf(alpha)]),
        );
        expect(nameChecks.length).toBeLessThanOrEqual(3);
        expect(env.statuses.length).toBe(statusesAtStart);
        expect(subscriber.status).toBe('ready');
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
        // One warning per kind of bad message, not one per message.
        expect(env.warnings.length).toBeLessThanOrEqual(expected.byReason.size);
      } finally {
        await env.subscriber.close();
        await pool?.end();
      }
    },
  );
});

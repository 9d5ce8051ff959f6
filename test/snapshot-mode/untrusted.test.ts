// Issue 7, defects 1-3: what a forged, replayed or reset Redis does to snapshot-mode caches. Each
// runs a real bridge with its reload worker and a snapshot-mode subscriber against real Postgres
// and Redis, forges what an attacker (or an unlucky operator) can, then checks that the next
// real commits reach the cache as they should.
import {
  createSubscriber,
  StaticCache,
  type ReloadEvent,
  type Subscriber,
} from '@pg-static-cache/client';
import type { ResolvedTable } from '@pg-static-cache/postgres';
import {
  createSnapshot,
  parseSnapshot,
  serializeMessage,
  Signer,
  type Snapshot,
} from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startPrivateRedis } from '../support/fixtures/private-redis.ts';
import { createJobsWorld, type JobsWorld } from '../support/jobs-kit.ts';
import type { BridgeConfigInput } from '@pg-static-cache/bridge';
import { waitFor } from '../support/index.ts';

const KEY = 'test-signing-key-0123456789';

/** A reload, with the label of row 1 the cache served right after it. */
type Served = ReloadEvent & { readonly label: string | undefined };

interface Followed {
  readonly subscriber: Subscriber;
  readonly plans: StaticCache<{ id: number; label: string }>;
  readonly reloads: Served[];
  readonly warnings: Error[];
}

async function follow(
  w: JobsWorld,
  options: { redis?: string; signingKey?: string } = {},
): Promise<Followed> {
  const plans = new StaticCache<{ id: number; label: string }>({ table: 'plans' });
  const subscriber = createSubscriber({
    mode: 'snapshot',
    pg: w.schema.url,
    redis: options.redis ?? w.config().redisUrl,
    namespace: w.names.namespace,
    caches: [plans],
    ...(options.signingKey === undefined ? {} : { signingKey: options.signingKey }),
  });
  const reloads: Served[] = [];
  const warnings: Error[] = [];
  subscriber.on('reload', (event) => reloads.push({ ...event, label: plans.get(1)?.label }));
  subscriber.on('warning', (warning) => warnings.push(warning));
  await subscriber.start();
  return { subscriber, plans, reloads, warnings };
}

/** Commits a new label and waits until the cache serves it; returns the reload that brought it. */
async function commitAndFollow(
  w: JobsWorld,
  f: Followed,
  label: string,
  timeoutMs = 10_000,
): Promise<Served> {
  const from = f.reloads.length;
  await w.schema.pool.query('UPDATE plans SET label = $1 WHERE id = 1', [label]);
  let event: Served | undefined;
  await waitFor(
    `the cache to serve ${label}`,
    () => (event = f.reloads.slice(from).find((r) => r.label === label)) !== undefined,
    timeoutMs,
  );
  if (event === undefined) throw new Error('unreachable');
  return event;
}

async function storedSnapshot(w: JobsWorld, table: ResolvedTable, signer?: Signer) {
  const raw = await w.redis.getBuffer(w.names.snapshot(table.display));
  if (raw === null) throw new Error('no snapshot stored');
  const parsed = parseSnapshot(raw, signer);
  if (!parsed.ok) throw new Error(`stored snapshot unreadable: ${parsed.reason}`);
  return parsed.snapshot;
}

/** Publishes a `snapshot` message as anybody with PUBLISH can: `fields` are what it claims. */
async function announce(
  w: JobsWorld,
  fields: Pick<Snapshot, 'table' | 'oid' | 'version' | 'generation' | 'digest' | 'lsn'>,
): Promise<void> {
  const { table, oid, version, generation, digest, lsn } = fields;
  const key = w.names.snapshot(table);
  await w.redis.publish(
    w.names.events,
    serializeMessage({
      ...{ v: 1, type: 'snapshot', table, oid, version, generation, key, digest, lsn },
      ...{ at: Date.now(), worker: 'attacker' },
    }),
  );
}

/** What an attacker with Redis write access does: rows of their choosing, a version and LSN far ahead. */
async function forgeSnapshot(w: JobsWorld, real: Snapshot, label: string): Promise<void> {
  const forged = createSnapshot({
    ...real,
    version: real.version + 1_000,
    rows: real.rows.map((row) => [row[0] ?? null, label]),
    lsn: 'FFFFFFFF/FFFFFFFF',
  });
  await w.redis.set(w.names.snapshot(real.table), JSON.stringify(forged));
  await announce(w, forged);
}

/** A world with `plans` (1, 'one'), a bridge with its worker, and a snapshot-mode app following it. */
async function hostileWorld(
  prefix: string,
  options: { readonly bridge?: Partial<BridgeConfigInput>; readonly signingKey?: string } = {},
): Promise<{ w: JobsWorld; plans: ResolvedTable; f: Followed } & AsyncDisposable> {
  const w = await createJobsWorld(prefix);
  try {
    const plans = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'one')`);
    await w.startBridge(options.bridge);
    const f = await follow(w, {
      ...(options.bridge?.redisUrl === undefined ? {} : { redis: options.bridge.redisUrl }),
      ...(options.signingKey === undefined ? {} : { signingKey: options.signingKey }),
    });
    return {
      w,
      plans,
      f,
      async [Symbol.asyncDispose]() {
        await f.subscriber.close();
        await w[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await w[Symbol.asyncDispose]();
    throw error;
  }
}

describe('snapshot mode against a hostile or unlucky Redis', () => {
  it('one forged snapshot message with LSN FFFFFFFF/FFFFFFFF does not stop the cache from following', async () => {
    await using world = await hostileWorld('psc_forged_lsn');
    const { w, plans, f } = world;
    await commitAndFollow(w, f, 'before');
    const real = await storedSnapshot(w, plans);
    await announce(w, {
      ...real,
      version: 999_999,
      digest: '0'.repeat(64),
      lsn: 'FFFFFFFF/FFFFFFFF',
    });
    // The forged version is not stored: the cache asks Postgres (once), as before the fix.
    await waitFor('the fallback the forged message causes', () =>
      f.reloads.some((r) => r.fallback === 'stale'),
    );
    // Then every real commit still arrives, through the worker's snapshots.
    for (const label of ['after-1', 'after-2', 'after-3']) {
      const event = await commitAndFollow(w, f, label);
      expect(event.source).toBe('snapshot');
    }
    // The claim was checked against Postgres and counted.
    expect(f.subscriber.stats.untrustedPositions).toBeGreaterThanOrEqual(1);
    expect(f.warnings.map((e) => e.message).join('\n')).toMatch(/ahead of the database/);
  });

  it('a forged stored snapshot (unsigned) is replaced by the next real commit, from Postgres', async () => {
    await using world = await hostileWorld('psc_forged_rows');
    const { w, plans, f } = world;
    await commitAndFollow(w, f, 'real');
    // Under load the app may have followed 'real' from Postgres while its job still waits; that
    // job would then store real rows over the forgery before any app read it.
    await w.waitForIdleQueue();
    await forgeSnapshot(w, await storedSnapshot(w, plans), 'forged');
    // Without a signing key nothing tells forged rows from real ones: the docs say so.
    await waitFor('the forged rows', () => f.plans.get(1)?.label === 'forged');
    // But the forged position does not hide later commits.
    const event = await commitAndFollow(w, f, 'after');
    expect(event).toMatchObject({ source: 'postgres', fallback: 'untrusted' });
    await commitAndFollow(w, f, 'after-2');
    expect(f.subscriber.stats.untrustedPositions).toBeGreaterThanOrEqual(1);
  });

  it('with a signing key, forged snapshots and messages are dropped and never served', async () => {
    await using world = await hostileWorld('psc_signed', {
      bridge: { signingKeys: [KEY] },
      signingKey: KEY,
    });
    const { w, plans, f } = world;
    await commitAndFollow(w, f, 'real');
    expect((await w.redis.get(w.names.snapshot(plans.display)))?.startsWith('psc1.')).toBe(true);
    await forgeSnapshot(w, await storedSnapshot(w, plans, new Signer([KEY])), 'forged');
    await waitFor(
      'the forged message to be dropped',
      () => f.subscriber.stats.invalidByReason.unsigned > 0,
    );
    // The next real commit overwrites the forged value with a signed snapshot and is served.
    const event = await commitAndFollow(w, f, 'after');
    expect(event.source).toBe('snapshot');
    expect(f.reloads.map((r) => r.label)).not.toContain('forged');
  });

  it('after FLUSHALL, changes still arrive as snapshots at once (a new counter generation)', async () => {
    await using redis = await startPrivateRedis();
    await using world = await hostileWorld('psc_flushall', { bridge: { redisUrl: redis.url } });
    const { w, f } = world;
    const admin = new Redis(redis.url);
    try {
      // Enough versions that the counter's restart is far below what the cache held.
      for (let i = 0; i < 5; i += 1) await commitAndFollow(w, f, `before-${i}`);
      await admin.flushall();
      // The bridge notices the lost lease and resyncs; wait for it to lead again.
      await waitFor('the lease back', async () => (await admin.exists(w.names.leader)) === 1);
      for (const label of ['after-1', 'after-2']) {
        const event = await commitAndFollow(w, f, label);
        // Before the fix: version 1 looked older than version 6, and each change waited out
        // snapshotWaitMs (2 s) before querying Postgres ('timeout').
        expect(event.source).toBe('snapshot');
      }
    } finally {
      admin.disconnect();
    }
  });
});

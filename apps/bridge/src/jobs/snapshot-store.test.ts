import { createSnapshot, namesFor, Signer, type Snapshot } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisUrl, uniqueName } from '@pg-static-cache/test-support';
import { SnapshotStore } from './snapshot-store.ts';

const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

function snapshot(table: string, version: number, label: string): Snapshot {
  return createSnapshot({
    table,
    oid: 16_384,
    version,
    generation: 'g1',
    fields: [
      { name: 'id', dataTypeID: 23 },
      { name: 'label', dataTypeID: 25 },
    ],
    rows: [['1', label]],
    lsn: '0/16B3748',
    at: Date.now(),
  });
}

describe('SnapshotStore', () => {
  it('hands out increasing versions and stores a snapshot only over an older one', async () => {
    const names = namesFor(uniqueName('snap'));
    const store = new SnapshotStore(redis, names);
    const table = 'public.plans';
    try {
      const [v1, v2, v3] = [
        (await store.nextVersion(table)).version,
        (await store.nextVersion(table)).version,
        (await store.nextVersion(table)).version,
      ];
      expect([v1, v2, v3]).toEqual([1, 2, 3]);

      expect(await store.store(snapshot(table, v2, 'two'))).toMatchObject({ stored: true });
      // The job with the older version finishes last: refused, the newer snapshot stays.
      expect(await store.store(snapshot(table, v1, 'one'))).toEqual({ stored: false, current: 2 });
      expect(await store.store(snapshot(table, v2, 'again'))).toEqual({
        stored: false,
        current: 2,
      });
      expect((await store.read(table))?.rows).toEqual([['1', 'two']]);
      expect(await store.store(snapshot(table, v3, 'three'))).toMatchObject({ stored: true });
      expect(await store.read(table)).toMatchObject({ version: 3, rows: [['1', 'three']] });

      // What clients read is the plain snapshot key of libs/protocol.
      const keys = names.snapshotKeys(table);
      expect(keys.snapshot).toBe(names.snapshot(table));
      expect(await redis.get(keys.stored)).toBe('3');
    } finally {
      await store.delete(table);
    }
  });

  it('never hands out a version at or below the stored one, even after the counter is lost', async () => {
    const names = namesFor(uniqueName('snap'));
    const store = new SnapshotStore(redis, names);
    const table = 'public.plans';
    try {
      for (let i = 0; i < 5; i += 1) await store.nextVersion(table);
      expect(await store.store(snapshot(table, 5, 'five'))).toMatchObject({ stored: true });
      await redis.del(names.snapshotKeys(table).counter);
      const next = (await store.nextVersion(table)).version;
      expect(next).toBe(6);
      expect(await store.store(snapshot(table, next, 'six'))).toMatchObject({ stored: true });
      expect((await store.nextVersion(table)).version).toBe(7);
    } finally {
      await store.delete(table);
    }
  });

  it('starts a new generation when the counter starts again (FLUSHALL, eviction), and keeps it otherwise', async () => {
    const names = namesFor(uniqueName('snap'));
    const store = new SnapshotStore(redis, names);
    const table = 'public.plans';
    try {
      const first = await store.nextVersion(table);
      const second = await store.nextVersion(table);
      expect(second).toEqual({ version: 2, generation: first.generation });
      // What FLUSHALL does to this table's keys.
      await store.delete(table);
      const after = await store.nextVersion(table);
      expect(after.version).toBe(1);
      expect(after.generation).not.toBe(first.generation);
      // The generation key alone evicted: a new generation, versions still above the stored one.
      await store.store(snapshot(table, after.version, 'one'));
      await redis.del(names.snapshotKeys(table).generation);
      const evicted = await store.nextVersion(table);
      expect(evicted.version).toBe(2);
      expect(evicted.generation).not.toBe(after.generation);
    } finally {
      await store.delete(table);
    }
  });

  it('with a signing key, stores signed values and reads back only values signed by a key it has', async () => {
    const names = namesFor(uniqueName('snap'));
    const signer = new Signer(['s'.repeat(32)]);
    const store = new SnapshotStore(redis, names, signer);
    const table = 'public.plans';
    try {
      await store.store(snapshot(table, 1, 'signed'));
      const raw = await redis.getBuffer(names.snapshot(table));
      expect(raw !== null && signer.open(raw).ok).toBe(true);
      expect((await store.read(table))?.rows).toEqual([['1', 'signed']]);
      // Rewritten by someone without the key: not read, however valid its JSON and digest.
      await redis.set(names.snapshot(table), JSON.stringify(snapshot(table, 2, 'forged')));
      expect(await store.read(table)).toBeUndefined();
    } finally {
      await store.delete(table);
    }
  });

  it('reads a missing or corrupt snapshot as undefined', async () => {
    const names = namesFor(uniqueName('snap'));
    const store = new SnapshotStore(redis, names);
    const table = 'public.plans';
    try {
      expect(await store.read(table)).toBeUndefined();
      const good = snapshot(table, 1, 'one');
      await store.store(good);
      await redis.set(
        names.snapshot(table),
        JSON.stringify({ ...good, rows: [['1', 'tampered']] }),
      );
      expect(await store.read(table)).toBeUndefined();
    } finally {
      await store.delete(table);
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { namesFor, type SnapshotKeys } from './names.ts';

const keyList = ({ snapshot, counter, stored, generation }: SnapshotKeys): string[] => [
  snapshot,
  counter,
  stored,
  generation,
];

describe('names', () => {
  // Deployed Redis data, deploy/redis-users.acl and older bridges and clients all depend on these
  // exact strings: a change here is a breaking change of the protocol.
  it('forms every name under the namespace, exactly', () => {
    const names = namesFor('eu1');
    expect({ ...names, snapshot: undefined, snapshotKeys: undefined }).toEqual({
      namespace: 'eu1',
      layout: 'single',
      events: 'eu1:events',
      control: 'eu1:control',
      leader: 'eu1:leader',
      epoch: 'eu1:epoch',
      status: 'eu1:status',
      bridges: 'eu1:bridges',
      queue: 'eu1-reload',
      queuePrefix: 'bull',
      snapshot: undefined,
      snapshotKeys: undefined,
    });
    expect(names.snapshot('public.plans')).toBe('eu1:snapshot:public.plans');
    expect(names.snapshotKeys('public.plans')).toEqual({
      snapshot: 'eu1:snapshot:public.plans',
      counter: 'eu1:snapshot-version:public.plans',
      stored: 'eu1:snapshot-stored:public.plans',
      generation: 'eu1:snapshot-generation:public.plans',
    });
    expect(namesFor().events).toBe('psc:events');
  });

  // Redis Cluster hashes only the first {…} of a key: one tag per namespace puts the lease, the
  // status hash, the channel and every snapshot and queue key in one slot, as the scripts need.
  it('hash-tags every name with the namespace in a cluster', () => {
    const names = namesFor('eu1', 'cluster');
    const keys = [
      names.events,
      names.control,
      names.leader,
      names.epoch,
      names.status,
      names.bridges,
      `${names.queuePrefix}:${names.queue}:wait`,
      ...keyList(names.snapshotKeys('"we{ird}".t')),
    ];
    for (const key of keys) expect(key.startsWith('{eu1}:'), key).toBe(true);
    expect(names.events).toBe('{eu1}:events');
    expect(names.snapshot('public.plans')).toBe('{eu1}:snapshot:public.plans');
    expect(names.queue).toBe('eu1-reload');
  });

  it('refuses namespaces that would break keys', () => {
    for (const bad of ['', 'a:b', 'a b', 'x'.repeat(65), 'ü']) {
      expect(() => namesFor(bad)).toThrow(/invalid namespace/);
    }
  });

  it("keeps every table's snapshot keys apart from every other table's, whatever the names", () => {
    const names = namesFor('psc');
    const keysOf = (table: string) => keyList(names.snapshotKeys(table));
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        const all = [...keysOf(a), ...keysOf(b)];
        expect(new Set(all).size).toBe(all.length);
      }),
      { numRuns: 2_000 },
    );
    // The shapes a prefix collision would need: one table's name ending in another key's prefix.
    const tricky = ['public.a', 'public.a:stored', 'version:public.a', '-stored:public.a'];
    const all = tricky.flatMap(keysOf);
    expect(new Set(all).size).toBe(all.length);
  });

  it("starts every snapshot key with `<namespace>:snapshot`, the least-privilege worker's pattern", () => {
    for (const key of keyList(namesFor('eu1').snapshotKeys('public.plans'))) {
      expect(key.startsWith('eu1:snapshot')).toBe(true);
    }
  });
});

// The freshness rules of snapshot mode without Redis or Postgres: which snapshots may be swapped
// in, what a wait for a covering snapshot ends with, and its deadline.
import { createSnapshot, type Snapshot, type SnapshotMessage } from '@pg-static-cache/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReloadReason } from './cache-reloader.ts';
import { SnapshotTracker } from './snapshot-tracker.ts';

const WAIT_MS = 1_000;

function snapshot(
  version: number,
  lsn: string,
  label = `v${version}`,
  generation = 'g1',
): Snapshot {
  return createSnapshot({
    table: 'public.plans',
    oid: 16_400,
    version,
    generation,
    fields: [
      { name: 'id', dataTypeID: 23 },
      { name: 'label', dataTypeID: 25 },
    ],
    rows: [['1', label]],
    lsn,
    at: 1,
  });
}

function message(stored: Snapshot): SnapshotMessage {
  const { table, oid, version, generation, digest, lsn } = stored;
  return {
    ...{ v: 1, type: 'snapshot', table, oid, version, generation, key: 'k', digest, lsn },
    ...{ at: 1, worker: 'w' },
  };
}

let overdue: ReloadReason[] = [];
let tracker: SnapshotTracker;

beforeEach(() => {
  vi.useFakeTimers();
  overdue = [];
  tracker = new SnapshotTracker(WAIT_MS, (reason) => overdue.push(reason));
});

afterEach(() => {
  tracker.close();
  vi.useRealTimers();
});

describe('SnapshotTracker', () => {
  it('swaps only newer versions, and never a snapshot older than a Postgres load', () => {
    expect(tracker.judge(snapshot(1, '0/10'))).toBe('newer');
    tracker.swapped(snapshot(2, '0/20'), true);
    expect(tracker.swappedVersion).toBe(2);
    expect(tracker.judge(snapshot(2, '0/20'))).toBe('held');
    expect(tracker.judge(snapshot(1, '0/30'))).toBe('held');
    expect(tracker.announced(message(snapshot(1, '0/30')))).toBe(false);
    // A Postgres load whose query started after a message with LSN 0/50 was seen.
    tracker.loadedFromPostgres(0x50n, tracker.demands);
    expect(tracker.swappedVersion).toBe(2);
    expect(tracker.judge(snapshot(3, '0/40'))).toBe('held');
    expect(tracker.announced(message(snapshot(3, '0/40')))).toBe(false);
    expect(tracker.judge(snapshot(3, '0/50'))).toBe('newer');
  });

  it('calls a stored snapshot stale when a message announced a newer one', () => {
    tracker.swapped(snapshot(1, '0/10'), true);
    expect(tracker.announced(message(snapshot(3, '0/30')))).toBe(true);
    expect(tracker.judge(snapshot(2, '0/20'))).toBe('stale');
    expect(tracker.judge(snapshot(3, '0/30'))).toBe('newer');
    tracker.swapped(snapshot(3, '0/30'), true);
    expect(tracker.judge(snapshot(4, '0/40'))).toBe('newer');
  });

  it('waits for the snapshot that covers an invalidate, and ends the wait when it is swapped in', () => {
    tracker.swapped(snapshot(1, '0/10'), true);
    tracker.invalidated('0/8');
    expect(tracker.waiting).toBe(false);
    tracker.invalidated('0/20');
    expect(tracker.waiting).toBe(true);
    // A newer snapshot that started before the commit: an improvement, but the wait goes on.
    expect(tracker.covers(snapshot(2, '0/18'))).toBe(false);
    tracker.swapped(snapshot(2, '0/18'), true);
    expect(tracker.waiting).toBe(true);
    expect(tracker.covers(snapshot(3, '0/20'))).toBe(true);
    tracker.swapped(snapshot(3, '0/20'), true);
    expect(tracker.waiting).toBe(false);
    vi.advanceTimersByTime(WAIT_MS * 2);
    expect(overdue).toEqual([]);
  });

  it('turns overdue once, from the first uncovered invalidate, and a Postgres load ends it', () => {
    tracker.swapped(snapshot(1, '0/10'), true);
    tracker.invalidated('0/20');
    vi.advanceTimersByTime(WAIT_MS - 100);
    // Later invalidates do not push the deadline back.
    tracker.invalidated('0/30');
    vi.advanceTimersByTime(100);
    expect(overdue).toEqual(['change']);
    expect(tracker.overdue).toBe(true);
    tracker.invalidated('0/40');
    vi.advanceTimersByTime(WAIT_MS * 2);
    expect(overdue).toEqual(['change']);
    tracker.loadedFromPostgres(0x40n, tracker.demands);
    expect(tracker.overdue).toBe(false);
    expect(tracker.waiting).toBe(false);
    // Covered by that load already.
    tracker.invalidated('0/40');
    expect(tracker.waiting).toBe(false);
  });

  it('waits afresh for what was asked while a Postgres load ran', () => {
    tracker.invalidated('0/20');
    vi.advanceTimersByTime(WAIT_MS);
    expect(overdue).toEqual(['change']);
    const demands = tracker.demands;
    tracker.invalidated('0/60');
    tracker.loadedFromPostgres(0x50n, demands);
    expect(tracker.overdue).toBe(false);
    expect(tracker.waiting).toBe(true);
    vi.advanceTimersByTime(WAIT_MS);
    expect(overdue).toEqual(['change', 'change']);
  });

  it('after a resync, waits for a snapshot announced later, whatever its LSN', () => {
    tracker.swapped(snapshot(1, '0/10'), true);
    tracker.resynced('resync', false);
    expect(tracker.waiting).toBe(true);
    // The stored one is what the cache holds: it covers nothing a resync may have lost.
    expect(tracker.covers(snapshot(1, '0/10'))).toBe(false);
    expect(tracker.announced(message(snapshot(2, '0/10')))).toBe(true);
    expect(tracker.waiting).toBe(false);
    vi.advanceTimersByTime(WAIT_MS * 2);
    expect(overdue).toEqual([]);

    tracker.resynced('reconnect', false);
    vi.advanceTimersByTime(WAIT_MS);
    expect(overdue).toEqual(['reconnect']);
  });

  it('forgets versions after a re-subscribe (Redis may have lost the counter) but not the LSN', () => {
    tracker.swapped(snapshot(7, '0/70'), true);
    tracker.resynced('reconnect', true);
    expect(tracker.judge(snapshot(1, '0/80'))).toBe('newer');
    expect(tracker.judge(snapshot(1, '0/60'))).toBe('held');
    expect(tracker.announced(message(snapshot(1, '0/60')))).toBe(false);
  });

  it('skips an invalidate a snapshot seems to cover only once Postgres vouched for its position', () => {
    // Postgres had reported 0/20 when the snapshot was swapped in: its position is real.
    tracker.swapped(snapshot(1, '0/20'), true);
    expect(tracker.invalidated('0/18')).toBe('held');
    // Only the snapshot says 0/FFFFFFFF (forged, or from a cluster since replaced).
    tracker.swapped(snapshot(2, 'FFFFFFFF/FFFFFFFF'), false);
    expect(tracker.invalidated('0/30')).toBe('verify');
    expect(tracker.waiting).toBe(false);
    // Postgres is at 0/40: the position held is a lie.
    expect(tracker.checkedAgainst(0x40n)).toBe(false);
    tracker.distrust();
    expect(overdue).toEqual(['resync']);
    expect(tracker.distrusted).toBe(true);
    expect(tracker.overdue).toBe(true);
    // Every position it brought is forgotten: the real worker's next snapshot is newer again.
    expect(tracker.swappedVersion).toBe(0);
    tracker.loadedFromPostgres(0x40n, tracker.demands);
    expect(tracker.distrusted).toBe(false);
    expect(tracker.judge(snapshot(2, '0/50', 'real'))).toBe('newer');
    expect(tracker.invalidated('0/30')).toBe('held');
    expect(tracker.invalidated('0/60')).toBe('wait');
  });

  it('a position Postgres has reached is trusted after the check', () => {
    tracker.swapped(snapshot(1, '0/30'), false);
    expect(tracker.invalidated('0/20')).toBe('verify');
    expect(tracker.checkedAgainst(0x30n)).toBe(true);
    expect(tracker.invalidated('0/20')).toBe('held');
    // A resync withdraws that word: the cluster behind the bridge may have changed.
    tracker.resynced('resync', false);
    expect(tracker.invalidated('0/20')).toBe('verify');
  });

  it('takes a new counter generation as new, whatever its version (FLUSHALL, eviction)', () => {
    tracker.swapped(snapshot(500, '0/30'), true);
    expect(tracker.judge(snapshot(1, '0/40', 'after flush', 'g2'))).toBe('newer');
    expect(tracker.announced(message(snapshot(1, '0/40', 'after flush', 'g2')))).toBe(true);
    // Versions still compare within the new generation.
    expect(tracker.judge(snapshot(1, '0/35', 'x', 'g1'))).toBe('held');
    tracker.swapped(snapshot(2, '0/40', 'after flush', 'g2'), true);
    expect(tracker.judge(snapshot(1, '0/40', 'older', 'g2'))).toBe('held');
    expect(tracker.judge(snapshot(3, '0/41', 'next', 'g2'))).toBe('newer');
    // But never rows from before the held position, whatever the generation.
    expect(tracker.judge(snapshot(1, '0/10', 'old', 'g3'))).toBe('held');
  });

  it('stops its timer on close', () => {
    tracker.invalidated('0/20');
    tracker.close();
    vi.advanceTimersByTime(WAIT_MS * 2);
    expect(overdue).toEqual([]);
  });
});

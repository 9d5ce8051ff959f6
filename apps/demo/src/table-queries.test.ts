import { describe, expect, it } from 'vitest';
import { formatQueries, queriesBetween, type QuerySample } from './table-queries.ts';

const sample = (entries: Record<string, ['worker' | 'apps', number]>): QuerySample => ({
  entries: new Map(
    Object.entries(entries).map(([key, [runner, calls]]) => [key, { runner, calls }]),
  ),
});

describe('queriesBetween', () => {
  it('adds up the new calls per runner, new entries from zero', () => {
    const before = sample({ w1: ['worker', 3], a1: ['apps', 10] });
    const after = sample({ w1: ['worker', 4], a1: ['apps', 10], a2: ['apps', 2] });
    expect(queriesBetween(before, after)).toEqual({ worker: 1, apps: 2 });
  });

  it('gives up when an entry vanished or went back (evicted by pg_stat_statements)', () => {
    const before = sample({ w1: ['worker', 3], a1: ['apps', 10] });
    expect(queriesBetween(before, sample({ w1: ['worker', 4] }))).toBeUndefined();
    const reset = sample({ w1: ['worker', 1], a1: ['apps', 10] });
    expect(queriesBetween(before, reset)).toBeUndefined();
  });
});

describe('formatQueries', () => {
  it('shows the workers only in a mode that has them', () => {
    expect(formatQueries({ worker: 1, apps: 0 }, true)).toBe('1 (worker) + 0 (apps)');
    expect(formatQueries({ worker: 0, apps: 3 }, false)).toBe('3 (apps)');
    expect(formatQueries(undefined, true)).toMatch(/^not counted/);
  });
});

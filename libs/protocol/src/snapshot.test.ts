import { describe, expect, it } from 'vitest';
import { createSnapshot, parseSnapshot } from './snapshot.ts';

const snapshot = createSnapshot({
  table: 'public.plans',
  oid: 16_400,
  version: 3,
  generation: 'g1',
  fields: [
    { name: 'id', dataTypeID: 23 },
    { name: 'price', dataTypeID: 1700 },
  ],
  rows: [
    ['1', '9.99'],
    ['2', null],
  ],
  lsn: '0/16B3748',
  at: 1_764_000_000_000,
});

describe('snapshot', () => {
  it('round-trips with a verified digest', () => {
    expect(parseSnapshot(JSON.stringify(snapshot))).toEqual({ ok: true, snapshot });
  });

  it('refuses corrupted, torn or mis-shaped values', () => {
    const tampered = {
      ...snapshot,
      rows: [
        ['1', '0.01'],
        ['2', null],
      ],
    };
    expect(parseSnapshot(JSON.stringify(tampered))).toMatchObject({
      ok: false,
      reason: 'digest-mismatch',
    });
    expect(parseSnapshot(JSON.stringify(snapshot).slice(0, 40))).toMatchObject({
      ok: false,
      reason: 'not-json',
    });
    const short = createSnapshot({ ...snapshot, rows: [['1']] });
    expect(parseSnapshot(JSON.stringify(short))).toMatchObject({
      ok: false,
      reason: 'shape-mismatch',
    });
    expect(parseSnapshot(JSON.stringify({ ...snapshot, extra: 1 }))).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
  });
});

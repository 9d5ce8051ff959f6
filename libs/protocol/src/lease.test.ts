import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leaseTermPrefix, parseLease, serializeLease, type LeaseValue } from './lease.ts';

const lease: LeaseValue = { bridge: 'bridge-a', epoch: 7, backendPid: 4242, renewedAt: 1_764_000 };

const term = fc.record({
  bridge: fc.string({ minLength: 1, maxLength: 40 }),
  epoch: fc.nat(),
  backendPid: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

describe('lease', () => {
  it('is stored as JSON in a fixed key order, and reads back', () => {
    const text = serializeLease({ renewedAt: 5, backendPid: 9, epoch: 2, bridge: 'b' });
    expect(text).toBe('{"bridge":"b","epoch":2,"backendPid":9,"renewedAt":5}');
    expect(parseLease(serializeLease(lease))).toEqual(lease);
  });

  it('reads anything else in Redis as no lease', () => {
    for (const text of [
      null,
      undefined,
      '',
      'not json',
      '[]',
      '{"bridge":"a","epoch":1,"backendPid":2}',
      '{"bridge":"","epoch":1,"backendPid":2,"renewedAt":3}',
      '{"bridge":"a","epoch":-1,"backendPid":2,"renewedAt":3}',
      '{"bridge":"a","epoch":1.5,"backendPid":2,"renewedAt":3}',
      '{"bridge":"a","epoch":1,"backendPid":0,"renewedAt":3}',
      '{"bridge":"a","epoch":1,"backendPid":2,"renewedAt":3,"extra":true}',
    ]) {
      expect(parseLease(text)).toBeUndefined();
    }
  });

  // The bridge's fence compares this prefix in Lua: a term must match its own renewals, and no
  // other term (another bridge, epoch or backend) may ever match it.
  it('gives each term a prefix that its own leases have and no other term’s lease has', () => {
    fc.assert(
      fc.property(term, term, fc.nat(), (mine, other, renewedAt) => {
        const prefix = leaseTermPrefix(mine);
        expect(serializeLease({ ...mine, renewedAt }).startsWith(prefix)).toBe(true);
        const same =
          mine.bridge === other.bridge &&
          mine.epoch === other.epoch &&
          mine.backendPid === other.backendPid;
        expect(serializeLease({ ...other, renewedAt }).startsWith(prefix)).toBe(same);
      }),
      { numRuns: 2_000 },
    );
    expect(leaseTermPrefix(lease)).toBe('{"bridge":"bridge-a","epoch":7,"backendPid":4242,');
  });
});

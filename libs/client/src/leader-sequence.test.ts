// The ordering rules of leader messages: pure logic, no Redis.
import { describe, expect, it } from 'vitest';
import { LeaderSequence } from './leader-sequence.ts';

describe('LeaderSequence', () => {
  it('adopts the first message, then follows seq within the epoch', () => {
    const sequence = new LeaderSequence();
    expect(sequence.accept({ epoch: 3, seq: 40 })).toBe('first');
    expect(sequence.accept({ epoch: 3, seq: 41 })).toBe('in-order');
    expect(sequence.accept({ epoch: 3, seq: 41 })).toBe('duplicate');
    expect(sequence.accept({ epoch: 3, seq: 12 })).toBe('duplicate');
    expect(sequence.accept({ epoch: 3, seq: 44 })).toBe('gap');
    // The gap moved the position: the next one after it is in order again.
    expect(sequence.accept({ epoch: 3, seq: 45 })).toBe('in-order');
  });

  it('adopts a newer epoch at any seq and refuses older epochs for good', () => {
    const sequence = new LeaderSequence();
    sequence.accept({ epoch: 3, seq: 100 });
    expect(sequence.accept({ epoch: 4, seq: 0 })).toBe('new-epoch');
    expect(sequence.epoch).toBe(4);
    expect(sequence.accept({ epoch: 4, seq: 1 })).toBe('in-order');
    expect(sequence.accept({ epoch: 3, seq: 101 })).toBe('stale-epoch');
    expect(sequence.accept({ epoch: 3, seq: 2 })).toBe('stale-epoch');
    expect(sequence.accept({ epoch: 4, seq: 2 })).toBe('in-order');
  });

  it('after forget(), accepts a leader whose epoch went back (a Redis restart lost the counter)', () => {
    const sequence = new LeaderSequence();
    sequence.accept({ epoch: 9, seq: 5 });
    expect(sequence.accept({ epoch: 1, seq: 0 })).toBe('stale-epoch');
    sequence.forget();
    expect(sequence.epoch).toBeUndefined();
    expect(sequence.accept({ epoch: 1, seq: 0 })).toBe('first');
    expect(sequence.accept({ epoch: 1, seq: 1 })).toBe('in-order');
  });
});

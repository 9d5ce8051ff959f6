import { describe, expect, it } from 'vitest';
import { lsnText, lsnValue } from './wal-position.ts';

describe('WAL positions', () => {
  it('orders WAL positions, not strings', () => {
    expect(lsnValue('0/16B3748')).toBe(0x16b3748n);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(lsnValue('A/1') > lsnValue('9/FFFFFFFF')).toBe(true);
    expect(() => lsnValue('16B3748')).toThrow(TypeError);
  });

  it('writes a position as Postgres does, and reads it back', () => {
    expect(lsnText(0x16b3748n)).toBe('0/16B3748');
    expect(lsnText(lsnValue('AB/CD00EF01'))).toBe('AB/CD00EF01');
  });
});

import { describe, expect, it } from 'vitest';
import { parsePresenceEntry, serializePresenceEntry, type PresenceEntry } from './presence.ts';

const leader: PresenceEntry = { role: 'leader', pid: 10, host: 'h1', lastSeenAt: 1_000, epoch: 7 };
const standby: PresenceEntry = { role: 'standby', pid: 11, host: 'h2', lastSeenAt: 2_000 };

describe('presence entry', () => {
  it('is stored as JSON with lastSeenAt at the top level, and reads back', () => {
    expect(serializePresenceEntry(leader)).toBe(
      '{"role":"leader","pid":10,"host":"h1","lastSeenAt":1000,"epoch":7}',
    );
    expect(serializePresenceEntry(standby)).toBe(
      '{"role":"standby","pid":11,"host":"h2","lastSeenAt":2000}',
    );
    expect(parsePresenceEntry(serializePresenceEntry(leader))).toEqual(leader);
    expect(parsePresenceEntry(serializePresenceEntry(standby))).toEqual(standby);
  });

  it('shows an entry of a newer bridge that added a field, without the field', () => {
    expect(parsePresenceEntry(JSON.stringify({ ...standby, region: 'eu1' }))).toEqual(standby);
  });

  it('reads anything else in Redis as no entry', () => {
    for (const text of [
      null,
      undefined,
      'not json',
      '[1]',
      '{"role":"standby"}',
      '{"lastSeenAt":1}',
      JSON.stringify({ ...standby, role: 'king' }),
      JSON.stringify({ ...standby, lastSeenAt: '2000' }),
      JSON.stringify({ ...standby, epoch: -1 }),
    ]) {
      expect(parsePresenceEntry(text)).toBeUndefined();
    }
  });
});

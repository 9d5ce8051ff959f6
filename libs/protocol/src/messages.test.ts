import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_MESSAGE_BYTES,
  parseMessage,
  serializeMessage,
  type InvalidateMessage,
  type Message,
} from './messages.ts';

const invalidate: InvalidateMessage = {
  v: 1,
  type: 'invalidate',
  table: 'public.countries',
  oid: 16384,
  seq: 7,
  lsn: '0/16B3748',
  at: 1_764_000_000_000,
  bridge: 'bridge-a',
  epoch: 3,
};

const messages: Message[] = [
  invalidate,
  { v: 1, type: 'resync', reason: 'takeover', seq: 0, at: 1, bridge: 'b', epoch: 4 },
  {
    v: 1,
    type: 'resync',
    reason: 'manual',
    seq: 2,
    at: 1,
    bridge: 'b',
    epoch: 4,
    tables: ['public.plans'],
  },
  { v: 1, type: 'heartbeat', seq: 9, at: 1, bridge: 'b', epoch: 4 },
  {
    v: 1,
    type: 'snapshot',
    table: 'Weird Schema.Mixed Case',
    oid: 99,
    version: 12,
    generation: 'Zm9vYmFy-_1',
    key: 'psc:snapshot:Weird Schema.Mixed Case',
    digest: 'a'.repeat(64),
    lsn: 'FF/0',
    at: 5,
    worker: 'w1',
  },
  {
    v: 1,
    type: 'snapshot-delta',
    table: 'public.plans',
    oid: 99,
    version: 13,
    generation: 'Zm9vYmFy-_1',
    key: 'psc:snapshot:public.plans',
    digest: 'b'.repeat(64),
    lsn: 'FF/10',
    at: 6,
    worker: 'w1',
    from: 12,
    fromDigest: 'a'.repeat(64),
    length: 3,
    removed: [1],
    rows: [[1, ['2', null]]],
  },
];

describe('messages', () => {
  it('round-trips every message type', () => {
    for (const message of messages) {
      expect(parseMessage(serializeMessage(message))).toEqual({ ok: true, message });
    }
  });

  it('drops what is not a message, saying why', () => {
    expect(parseMessage('{').ok).toBe(false);
    expect(parseMessage('{"v":2,"type":"heartbeat"}')).toMatchObject({
      ok: false,
      reason: 'unknown-version',
    });
    expect(parseMessage(JSON.stringify({ ...invalidate, oid: -1 }))).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
    expect(
      parseMessage(JSON.stringify({ ...invalidate, lsn: "0/1'; DROP TABLE x" })),
    ).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
    // Unknown fields are refused: a forged message cannot smuggle, say, a `sql` field through.
    expect(parseMessage(JSON.stringify({ ...invalidate, sql: 'DELETE FROM plans' }))).toMatchObject(
      {
        ok: false,
        reason: 'invalid',
      },
    );
    expect(parseMessage(JSON.stringify({ ...invalidate, type: 'reload' }))).toMatchObject({
      ok: false,
    });
    expect(parseMessage('x'.repeat(MAX_MESSAGE_BYTES + 1))).toMatchObject({
      ok: false,
      reason: 'too-large',
    });
    expect(parseMessage('null')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(parseMessage('[1,2]')).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses to serialize a message readers would drop', () => {
    expect(() => serializeMessage({ ...invalidate, seq: 1.5 })).toThrow(
      /invalid invalidate message/,
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const result = parseMessage(text);
          expect(typeof result.ok).toBe('boolean');
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('rejects every single-field corruption of a valid message', () => {
    const corrupt = fc.record({
      field: fc.constantFrom(...Object.keys(invalidate)),
      value: fc.oneof(
        fc.string(),
        fc.double(),
        fc.constant(null),
        fc.array(fc.nat()),
        fc.boolean(),
      ),
    });
    fc.assert(
      fc.property(corrupt, ({ field, value }) => {
        const candidate = { ...invalidate, [field]: value };
        const text = JSON.stringify(candidate);
        const result = parseMessage(text);
        // Accepted only if still a well-formed message, and then exactly what was sent (-0 reads back as 0).
        if (result.ok) expect(result.message).toEqual(JSON.parse(text));
      }),
      { numRuns: 1_000 },
    );
  });
});

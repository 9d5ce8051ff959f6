import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMessage, serializeMessage, type Message } from './messages.ts';
import { Signer, parseSigningKeys } from './signing.ts';
import { createSnapshot, parseSnapshot, serializeSnapshot } from './snapshot.ts';

const OLD = 'old-key-0123456789abcdef';
const NEW = 'new-key-0123456789abcdef';
const heartbeat: Message = { v: 1, type: 'heartbeat', seq: 1, at: 1, bridge: 'b', epoch: 2 };

describe('Signer', () => {
  it('signs with the first key and accepts any key of the list (rotation)', () => {
    const before = new Signer([OLD]);
    const during = new Signer([NEW, OLD]);
    const after = new Signer([NEW]);
    const fromOld = before.sign('{"a":1}');
    const fromNew = during.sign('{"a":1}');
    expect(during.open(fromOld)).toMatchObject({ ok: true, signed: true });
    expect(before.open(fromNew)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(after.open(fromNew).ok).toBe(true);
    expect(after.open(fromOld)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses unsigned, altered and truncated payloads; without keys, strips signatures unchecked', () => {
    const signer = new Signer([OLD]);
    const signed = signer.sign('{"rows":[["1","one"]]}');
    expect(signer.open('{"rows":[["1","one"]]}')).toEqual({ ok: false, reason: 'unsigned' });
    expect(signer.open(signed.replace('one', 'two'))).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(signer.open(signed.slice(0, 40))).toEqual({ ok: false, reason: 'unsigned' });
    const opened = new Signer().open(signed);
    expect(opened.ok && opened.body.toString()).toBe('{"rows":[["1","one"]]}');
  });

  it('never throws and never accepts what it did not sign, whatever the bytes', () => {
    const signer = new Signer([OLD]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.string(), (bytes, text) => {
        expect(signer.open(Buffer.from(bytes)).ok).toBe(false);
        const forged = `psc1.${'0'.repeat(64)}.${text}`;
        expect(signer.open(forged).ok).toBe(false);
        const opened = signer.open(signer.sign(text));
        expect(opened.ok && opened.body.toString('utf8')).toBe(Buffer.from(text).toString());
      }),
    );
  });

  it('refuses short keys, and reads key lists as PSC_SIGNING_KEY gives them', () => {
    expect(() => new Signer(['short'])).toThrow(/at least 16/);
    expect(parseSigningKeys(` ${NEW} ,${OLD},, `)).toEqual([NEW, OLD]);
    expect(parseSigningKeys(undefined)).toEqual([]);
  });
});

describe('signed messages and snapshots', () => {
  it('parseMessage with keys reads only messages signed by one of them', () => {
    const signer = new Signer([OLD]);
    expect(parseMessage(serializeMessage(heartbeat, signer), signer)).toEqual({
      ok: true,
      message: heartbeat,
    });
    expect(parseMessage(serializeMessage(heartbeat), signer)).toMatchObject({
      ok: false,
      reason: 'unsigned',
    });
    expect(parseMessage(serializeMessage(heartbeat, new Signer([NEW])), signer)).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('parseSnapshot with keys refuses a forged snapshot even with a correct digest', () => {
    const signer = new Signer([OLD]);
    const snapshot = createSnapshot({
      table: 'public.plans',
      oid: 1,
      version: 1,
      generation: 'g',
      fields: [{ name: 'id', dataTypeID: 23 }],
      rows: [['1']],
      lsn: '0/1',
      at: 1,
    });
    expect(parseSnapshot(serializeSnapshot(snapshot, signer), signer)).toMatchObject({ ok: true });
    const forged = createSnapshot({ ...snapshot, version: 99, rows: [['666']] });
    expect(parseSnapshot(serializeSnapshot(forged), signer)).toMatchObject({
      ok: false,
      reason: 'unsigned',
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  parseControlMessage,
  serializeControlMessage,
  type ResyncDone,
  type ResyncRequest,
} from './control-messages.ts';
import { MAX_MESSAGE_BYTES } from './messages.ts';
import { Signer } from './signing.ts';

const request: ResyncRequest = {
  v: 1,
  type: 'resync-request',
  requestId: 'r1',
  tables: ['public.plans'],
};
const done: ResyncDone = {
  v: 1,
  type: 'resync-done',
  requestId: 'r1',
  bridge: 'bridge-a',
  epoch: 3,
  ok: false,
  error: 'table "nope" does not exist',
};

describe('control messages', () => {
  it('round-trip, unsigned and signed', () => {
    const signer = new Signer(['k'.repeat(32)]);
    for (const message of [request, done]) {
      expect(parseControlMessage(serializeControlMessage(message))).toEqual(message);
      expect(parseControlMessage(serializeControlMessage(message, signer), signer)).toEqual(
        message,
      );
    }
  });

  it('with keys, drops unsigned messages and messages signed with another key', () => {
    const signer = new Signer(['k'.repeat(32)]);
    const stranger = new Signer(['s'.repeat(32)]);
    expect(parseControlMessage(serializeControlMessage(request), signer)).toBeUndefined();
    expect(parseControlMessage(serializeControlMessage(request, stranger), signer)).toBeUndefined();
  });

  it('drops anything malformed or oversized, and refuses to send a malformed message', () => {
    for (const text of [
      'not json',
      '{}',
      JSON.stringify({ ...request, v: 2 }),
      JSON.stringify({ ...request, tables: [] }),
      JSON.stringify({ ...request, requestId: '' }),
      JSON.stringify({ ...request, extra: 1 }),
      JSON.stringify({ ...done, epoch: -1 }),
      // Valid by its schema, but larger than any message is allowed to be.
      JSON.stringify({ ...request, tables: Array.from({ length: 200 }, () => 't'.repeat(500)) }),
    ]) {
      expect(parseControlMessage(text)).toBeUndefined();
      expect(parseControlMessage(Buffer.from(text))).toBeUndefined();
    }
    expect(() => serializeControlMessage({ ...request, requestId: '' })).toThrow();
    const big = { ...request, tables: Array.from({ length: 200 }, () => 't'.repeat(500)) };
    expect(serializeControlMessage(big).length).toBeGreaterThan(MAX_MESSAGE_BYTES);
  });
});

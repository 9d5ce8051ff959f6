import { createHmac, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from './errors.ts';

/**
 * Signed payloads are `psc1.<64 hex HMAC-SHA256>.` followed by the exact bytes that were signed
 * (a message's or a snapshot's JSON). JSON never starts with `p`, so a reader tells a signed
 * payload from an unsigned one by its first bytes, without parsing.
 */
const PREFIX = 'psc1.';
const MAC_HEX = 64;
const HEADER_BYTES = PREFIX.length + MAC_HEX + 1;

/** Shorter keys are refused: a guessable key signs nothing worth trusting. */
export const MIN_SIGNING_KEY_LENGTH = 16;

/** Why a payload was refused by a {@link Signer} with keys. */
export type SignatureReject = 'unsigned' | 'bad-signature';

/** The outcome of {@link Signer.open}: the signed bytes, or why they cannot be trusted. */
export type Opened =
  | { readonly ok: true; readonly body: Buffer; readonly signed: boolean }
  | { readonly ok: false; readonly reason: SignatureReject };

/**
 * Signs and verifies messages and snapshots with shared keys (HMAC-SHA256 over the exact bytes).
 * The first key signs and any key verifies, so keys rotate without a flag day: add the new key
 * second everywhere, then move it first, then drop the old one.
 *
 * Without keys nothing is signed and everything is accepted (a signed payload has its signature
 * stripped unchecked, so verification can be switched on after the senders sign): then write
 * access to Redis is write access to every snapshot-mode cache.
 */
export class Signer {
  readonly #keys: readonly Buffer[];

  /** `keys`: the signing key first, then keys that are still accepted. */
  constructor(keys: readonly string[] = []) {
    for (const key of keys) {
      if (key.length < MIN_SIGNING_KEY_LENGTH) {
        throw new ProtocolError(
          'INVALID_SIGNING_KEY',
          `a signing key must have at least ${MIN_SIGNING_KEY_LENGTH} characters`,
        );
      }
    }
    this.#keys = Object.freeze(keys.map((key) => Buffer.from(key, 'utf8')));
  }

  /** Whether payloads are signed and only signed ones accepted. */
  get enabled(): boolean {
    return this.#keys.length > 0;
  }

  /** `text` as it goes on the wire: signed with the first key, or unchanged without keys. */
  sign(text: string): string {
    const key = this.#keys[0];
    if (key === undefined) return text;
    return `${PREFIX}${mac(key, Buffer.from(text, 'utf8')).toString('hex')}.${text}`;
  }

  /** The bytes a payload carries once its signature is checked; never throws. */
  open(raw: string | Buffer): Opened {
    const payload = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    const signed = isSigned(payload);
    if (this.#keys.length === 0) {
      return { ok: true, body: signed ? payload.subarray(HEADER_BYTES) : payload, signed };
    }
    if (!signed) return { ok: false, reason: 'unsigned' };
    const claimed = Buffer.from(payload.toString('latin1', PREFIX.length, HEADER_BYTES - 1), 'hex');
    const body = payload.subarray(HEADER_BYTES);
    // A claimed MAC that is not 64 hex digits decodes short and matches nothing.
    const valid =
      claimed.length === MAC_HEX / 2 &&
      this.#keys.some((key) => timingSafeEqual(mac(key, body), claimed));
    return valid ? { ok: true, body, signed } : { ok: false, reason: 'bad-signature' };
  }
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

function isSigned(payload: Buffer): boolean {
  return (
    payload.length >= HEADER_BYTES &&
    payload.toString('latin1', 0, PREFIX.length) === PREFIX &&
    payload[HEADER_BYTES - 1] === 0x2e // '.'
  );
}

/**
 * A key list as `PSC_SIGNING_KEY` and `--signing-key` give it: comma-separated, the signing key
 * first; blanks around commas are ignored.
 */
export function parseSigningKeys(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key.length > 0);
}

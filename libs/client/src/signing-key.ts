import { ProtocolError, Signer } from '@pg-static-cache/protocol';
import { ClientError } from './errors.ts';

/** The `signingKey` option as a {@link Signer}; ClientError INVALID_OPTIONS for a bad key. */
export function signerFor(option: string | readonly string[] | undefined): Signer {
  const keys: unknown = typeof option === 'string' ? [option] : (option ?? []);
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
    throw new ClientError('INVALID_OPTIONS', 'signingKey must be a string or an array of strings');
  }
  try {
    return new Signer(keys);
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new ClientError('INVALID_OPTIONS', error.message, { cause: error });
    }
    throw error;
  }
}

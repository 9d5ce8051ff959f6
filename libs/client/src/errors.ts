/** What went wrong, as a stable string a caller can switch on. */
export type ClientErrorCode =
  | 'INVALID_OPTIONS'
  | 'NO_CACHES'
  | 'NO_PRIMARY_KEY'
  | 'UNKNOWN_COLUMN'
  | 'TABLE_GONE'
  | 'ALREADY_STARTED'
  | 'CLOSED'
  | 'START_FAILED';

/** Base error of @pg-static-cache/client, with a one-line message and the underlying `cause`. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** `value` if it is an Error, else an Error saying what it was (a rejection can carry anything). */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

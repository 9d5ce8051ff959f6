/** What went wrong, as a stable string a caller can switch on. */
export type ProtocolErrorCode =
  'INVALID_NAMESPACE' | 'INVALID_MESSAGE' | 'INVALID_SIGNING_KEY' | 'INVALID_REDIS_URL';

/** Base error of @pg-static-cache/protocol. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

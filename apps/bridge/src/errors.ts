/** What went wrong, as a stable string a caller (the CLI) can switch on. */
export type BridgeErrorCode =
  /** A config value is missing or out of range; the message names it. */
  | 'INVALID_CONFIG'
  /** Postgres or Redis could not be reached when the bridge started. */
  | 'START_FAILED'
  /** Another session holds the leader lock (thrown inside the LISTEN session's onConnect). */
  | 'LOCK_NOT_GRANTED'
  /** The operation needs the leader and this bridge is not it. */
  | 'NOT_LEADER'
  /** A table named in a resync request does not exist. */
  | 'UNKNOWN_TABLE'
  /** The reload queue is paused (from Bull Board): an inline reload stored nothing. */
  | 'PAUSED'
  /** The bridge was closed. */
  | 'CLOSED';

/** Base error of @pg-static-cache/bridge, with a one-line message and the underlying `cause`. */
export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  readonly code: BridgeErrorCode;

  constructor(code: BridgeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** `value` as an Error, for places that catch `unknown`. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** A failed start of `what` as a BridgeError: the error itself when it is one, else START_FAILED naming it. */
export function startFailure(what: string, error: unknown): BridgeError {
  if (error instanceof BridgeError) return error;
  const cause = toError(error);
  return new BridgeError('START_FAILED', `${what} cannot start: ${cause.message}`, { cause });
}

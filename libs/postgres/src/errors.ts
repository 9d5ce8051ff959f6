/** What went wrong, as a stable string a caller can switch on. */
export type PostgresErrorCode =
  | 'INVALID_TABLE_NAME'
  | 'TABLE_NOT_FOUND'
  | 'NOT_A_TABLE'
  | 'NO_PRIMARY_KEY'
  | 'NOT_SUPERUSER'
  | 'INVALID_NAME'
  | 'CONNECTION_FAILED'
  | 'NOT_A_REPLICA'
  | 'CLOSED';

/** Base error of @pg-static-cache/postgres: bad input or an unusable database, with a one-line message. */
export class PostgresError extends Error {
  override readonly name = 'PostgresError';
  readonly code: PostgresErrorCode;

  constructor(code: PostgresErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

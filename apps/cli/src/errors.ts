/** What stopped a command before it could do its job, as a stable string. */
export type CliErrorCode =
  'USAGE' | 'BAD_URL' | 'NO_DATABASE' | 'NO_REDIS' | 'REDIS_UNREACHABLE' | 'REFUSED';

/**
 * A failure the CLI itself detects (flags, URL, unsupported mode, Redis out of reach, a request
 * the bridge refused); always exit code 2, with this message as the one stderr line (a `cause`
 * is kept for debugging only).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** What stopped a command before it touched anything, as a stable string. */
export type CliErrorCode = 'USAGE' | 'BAD_URL' | 'NO_DATABASE' | 'NOT_AVAILABLE';

/** Bad input the CLI itself detects (flags, URL, unsupported mode); always exit code 2. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

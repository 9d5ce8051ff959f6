import type { BridgeError } from '@pg-static-cache/bridge';
import { ClientError } from '@pg-static-cache/client';
import { PostgresError } from '@pg-static-cache/postgres';
import { ProtocolError } from '@pg-static-cache/protocol';
import { CommanderError } from 'commander';
import { CliError } from './errors.ts';

/**
 * Exit codes of every command, diff(1)-style: 0 all good, 1 a check found a problem, 2 the
 * command could not do its job (bad input, unreachable database or Redis, failed SQL).
 */
export const ExitCode = { OK: 0, NOT_OK: 1, FAILED: 2 } as const;

/** One of {@link ExitCode}. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Text for `--help`, so the codes are documented where users look. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  check: at least one table's triggers are not ok; status: no leader, failing publishes, a
     trigger not ok or a paused reload queue; resync: no leader answered in time
  2  bad input (flag, table name, URL, no primary key) or the database or Redis could not be used`;

/** How a failure ends the process: the one stderr line (if any) and the exit code. */
export interface Failure {
  readonly message: string | undefined;
  readonly exitCode: ExitCode;
}

// Socket-level reasons a connection never got to authenticate.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT', // unix socket path that does not exist
]);

// SQLSTATEs a server sends while refusing a session: auth (class 28), unknown database, too many
// connections, starting up or shutting down.
const REFUSAL_STATES = new Set(['3D000', '53300', '57P03', '57P01']);

function codeOf(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

// The error and its causes, outermost first; a connection to `localhost` that tries both IPv6
// and IPv4 fails with an AggregateError whose own message is empty.
function chainOf(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && !chain.includes(current)) {
    chain.push(current);
    current = current.cause;
  }
  return chain;
}

function messageOf(error: Error): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
  }
  return error.message;
}

function isConnectionFailure(error: Error): boolean {
  const code = codeOf(error);
  if (code === undefined) {
    // pg reports its own connect timeout and a socket closed during startup without a code.
    return /^(timeout expired|Connection terminated)/.test(error.message);
  }
  return NETWORK_CODES.has(code) || code.startsWith('28') || REFUSAL_STATES.has(code);
}

// By name, not instanceof: importing the bridge package here would load it (express, pino,
// prom-client) on every command; only bridge, status and resync load it, on demand.
function isBridgeError(error: Error): error is BridgeError {
  return error.name === 'BridgeError' && typeof (error as { code?: unknown }).code === 'string';
}

function isTypedInputError(error: Error): boolean {
  if (error instanceof CliError || error instanceof ProtocolError) return true;
  if (error instanceof PostgresError) return error.code !== 'CONNECTION_FAILED';
  if (error instanceof ClientError) return error.code !== 'START_FAILED';
  if (isBridgeError(error)) {
    return error.code === 'INVALID_CONFIG' || error.code === 'UNKNOWN_TABLE';
  }
  return false;
}

// Errors whose own message already says what could not be reached (Redis or Postgres): their
// causes carry socket codes that would otherwise read as "cannot connect to the database".
function saysWhatFailed(error: Error): boolean {
  return error instanceof CliError || (isBridgeError(error) && error.code === 'START_FAILED');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function commanderFailure(error: CommanderError): Failure {
  if (error.exitCode === 0) return { message: undefined, exitCode: ExitCode.OK };
  // `commander.help` with a non-zero code: no command given, the help already went to stderr.
  if (error.code === 'commander.help') return { message: undefined, exitCode: ExitCode.FAILED };
  return { message: oneLine(error.message.replace(/^error: /, '')), exitCode: ExitCode.FAILED };
}

/** Maps anything a command threw to its one line and exit code: the only place that decides. */
export function describeFailure(error: unknown): Failure {
  if (error instanceof CommanderError) return commanderFailure(error);
  const chain = chainOf(error);
  const explained = chain.find(saysWhatFailed);
  if (explained !== undefined) {
    return { message: oneLine(messageOf(explained)), exitCode: ExitCode.FAILED };
  }
  const connection = chain.find(isConnectionFailure);
  if (connection !== undefined) {
    return {
      message: `cannot connect to the database: ${oneLine(messageOf(connection))}`,
      exitCode: ExitCode.FAILED,
    };
  }
  // The innermost typed error says what was wrong; outer ones only say what was being done.
  const typed = chain.findLast(isTypedInputError);
  if (typed !== undefined) return { message: oneLine(typed.message), exitCode: ExitCode.FAILED };
  const database = chain.findLast((e) => /^[0-9A-Z]{5}$/.test(codeOf(e) ?? ''));
  if (database !== undefined) {
    const message = `database error: ${messageOf(database)} (SQLSTATE ${codeOf(database) ?? ''})`;
    return { message: oneLine(message), exitCode: ExitCode.FAILED };
  }
  const outer = chain[0];
  const text = outer === undefined ? String(error) : messageOf(outer);
  return { message: oneLine(`unexpected error: ${text}`), exitCode: ExitCode.FAILED };
}

/** Writes the failure's line to stderr and returns the exit code to end with. */
export function reportFailure(error: unknown, write: (line: string) => void): ExitCode {
  const failure = describeFailure(error);
  if (failure.message !== undefined) write(`pg-static-cache: ${failure.message}\n`);
  return failure.exitCode;
}

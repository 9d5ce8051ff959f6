import type { CliEnv } from '../config.ts';
import type { ExitCode } from '../exit.ts';

/** What main hands every command: the environment to read and where the exit code goes. */
export interface CommandContext {
  readonly env: CliEnv;
  /** Records how the command ended; main exits with it once parsing resolves. */
  readonly done: (code: ExitCode) => void;
}

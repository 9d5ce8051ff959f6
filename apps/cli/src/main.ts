// Entry point of `pg-static-cache`: build the program, run the command, map any failure to one
// stderr line and an exit code.
import { reportFailure, type ExitCode } from './exit.ts';
import { createProgram } from './program.ts';

// A reader that stopped reading (`pg-static-cache watch | head`) is not a failure of ours: end
// quietly, as other command-line tools do, instead of an EPIPE stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

let exitCode: ExitCode = 0;
const program = createProgram({
  env: process.env,
  done: (code) => (exitCode = code),
});
try {
  await program.parseAsync(process.argv);
} catch (error) {
  exitCode = reportFailure(error, (line) => process.stderr.write(line));
}
// Set, not process.exit(): stdout is flushed and any handle left open would show up in tests.
process.exitCode = exitCode;

// Entry point of `pg-static-cache`: build the program, run the command, map any failure to one
// stderr line and an exit code.
import { reportFailure, type ExitCode } from './exit.ts';
import { createProgram } from './program.ts';

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

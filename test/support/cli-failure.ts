// The CLI's bad-input contract, asserted the same way by every test that feeds it bad input.
import { expect } from 'vitest';
import type { CliRun } from './process.ts';

/** Asserts the CLI's bad-input contract: exit 2, one `pg-static-cache: …` line, no stack, no stdout. */
export function expectOneLineFailure(run: CliRun, text: string | RegExp): void {
  const lines = run.stderr.trimEnd().split('\n');
  expect({ code: run.code, lines, stdout: run.stdout }).toMatchObject({
    code: 2,
    lines: [expect.stringMatching(/^pg-static-cache: /)],
    stdout: '',
  });
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(lines[0]).toMatch(text);
}

// Prints `N passed, M failed` from vitest's JSON report. When the run stopped before vitest
// (lint, format or typecheck failed), that failure counts as one failed check.
import { readFileSync } from 'node:fs';
import process from 'node:process';

const [reportPath, exitCode] = process.argv.slice(2);
let passed = 0;
let failed;
try {
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests + (report.numRuntimeErrorTests ?? 0);
  if (exitCode !== '0' && failed === 0) failed = 1;
} catch {
  failed = exitCode === '0' ? 0 : 1;
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);

/** Writes one line to stdout, the output other programs parse. */
export function printLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Writes one JSON line to stderr: diagnostics that must not mix with stdout's contract. */
export function logEvent(event: string, fields: Readonly<Record<string, unknown>>): void {
  process.stderr.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** Left-aligned columns separated by two spaces, header first. */
export function formatColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

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

/** Writes one `pg-static-cache: …` line to stderr, for an outcome that is not a crash (exit 1). */
export function printProblem(message: string): void {
  process.stderr.write(`pg-static-cache: ${message}\n`);
}

/** An http:// URL for a host and port (IPv6 hosts in brackets). */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

// What every one of our subscriber processes does around its subscriber: hold the bench cache,
// report each reload in the protocol of protocol.ts, and stop on SIGTERM. With PSC_BENCH_GATE=stdin
// it prints `armed` once its code is loaded and starts only when a line arrives on stdin, so the
// driver can start many processes' first loads at the same moment. With PSC_PROBE_FILE set, it
// loads the bridge profile's probe first. PSC_BENCH_TABLE names another table to hold (the
// 100,000-row step's).
import { createInterface } from 'node:readline';
import { StaticCache, type Row, type Subscriber } from '@pg-static-cache/client';
import { PROBE_FILE_ENV } from './probe-marks.ts';
import { formatLine, greatestName, namesDigest, type LineKind } from './protocol.ts';
import { BENCH_TABLE, TABLE_ENV } from './workload.ts';

/** A variable the driver sets; exits with code 2 when it is missing. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    process.stderr.write(`subscriber: ${name} is not set\n`);
    process.exit(2);
  }
  return value;
}

const nameOf = (row: Row): string => String(row['name']);
const report = (kind: LineKind, count: number, value: string): void => {
  process.stdout.write(`${formatLine(kind, count, value)}\n`);
};

async function gate(): Promise<void> {
  if (process.env['PSC_BENCH_GATE'] !== 'stdin') return;
  report('armed', 0, '');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
}

/** Builds the subscriber around the bench cache, starts it and reports until SIGTERM. */
export async function runSubscriber(build: (cache: StaticCache) => Subscriber): Promise<void> {
  // The bridge profile's stamps (see probe.ts); never loaded for the measured runs.
  if ((process.env[PROBE_FILE_ENV] ?? '') !== '') await import('./probe.ts');
  const cache = new StaticCache({ table: process.env[TABLE_ENV] ?? BENCH_TABLE });
  const subscriber = build(cache);
  subscriber.on('stale', ({ error }) => process.stderr.write(`stale: ${error.message}\n`));
  subscriber.on('warning', (error) => process.stderr.write(`warning: ${error.message}\n`));

  let closing = false;
  process.on('SIGTERM', () => {
    if (closing) return;
    closing = true;
    void subscriber.close().then(() => process.exit(0));
  });

  await gate();
  await subscriber.start();
  let reloads = 0;
  // Attached after start so the initial load is the `ready` line, not a counted reload.
  subscriber.on('reload', () => {
    reloads += 1;
    const rows = cache.rows();
    report('reload', reloads, greatestName(rows.map(nameOf)));
    report('digest', reloads, namesDigest(rows.map(nameOf)));
  });
  report('ready', reloads, greatestName(cache.rows().map(nameOf)));
}

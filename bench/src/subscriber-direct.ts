// Our side of the bench: a direct-mode subscriber with default settings, reporting each reload in
// the protocol of protocol.ts. Started by the driver with DATABASE_URL set; stops on SIGTERM.
import { StaticCache, createSubscriber, type Row } from '@pg-static-cache/client';
import { formatLine, greatestName, namesDigest, type LineKind } from './protocol.ts';

const url = process.env['DATABASE_URL'];
if (url === undefined) {
  process.stderr.write('subscriber-direct: DATABASE_URL is not set\n');
  process.exit(2);
}

const cache = new StaticCache({ table: 'psc_bench.bench_items' });
const subscriber = createSubscriber({
  mode: 'direct',
  pg: url,
  channel: 'sequel_static_cache_update',
  caches: [cache],
});

const nameOf = (row: Row): string => String(row['name']);
const report = (kind: LineKind, count: number, value: string): void => {
  process.stdout.write(`${formatLine(kind, count, value)}\n`);
};

subscriber.on('stale', ({ error }) => process.stderr.write(`stale: ${error.message}\n`));
subscriber.on('warning', (error) => process.stderr.write(`warning: ${error.message}\n`));

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  void subscriber.close().then(() => process.exit(0));
});

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

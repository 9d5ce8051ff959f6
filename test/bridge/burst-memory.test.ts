// A burst of single-row commits against a `pg-static-cache bridge` process with reload jobs (and
// its worker) on and a 48 MB heap: it must keep leading (same process, same epoch) and both a
// redis-mode and a snapshot-mode `watch` must converge to the table. A bridge that queues one LSN
// read, publish and job add per notification runs out of heap within a few thousand commits.
// PSC_BURST_COMMITS sets the burst size.
import { readFile } from 'node:fs/promises';
import { installTriggers } from '@pg-static-cache/postgres';
import { namesFor, parseLease, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createTestSchema,
  redisUrl,
  tableDigest,
  uniqueName,
  type TestSchema,
} from '../support/index.ts';
import { spawnCli, type SpawnedProcess } from '../support/process.ts';
import { updateBurst } from '../support/update-burst.ts';

const COMMITS = Number(process.env['PSC_BURST_COMMITS'] ?? 20_000);
const CONNECTIONS = 4;
const ROWS = 100;
const HEAP_MB = 48;
// A cold `tsx` start on two busy cores can take seconds.
const START_TIMEOUT_MS = 30_000;
const CONVERGE_TIMEOUT_MS = 60_000;
const HEAP_USED = 'nodejs_heap_size_used_bytes';

interface World extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly names: Names;
  readonly redis: Redis;
  /** The bridge with reload jobs and its worker on, its heap capped at HEAP_MB. */
  spawnBridge(): SpawnedProcess;
  spawnWatch(mode: 'redis' | 'snapshot'): SpawnedProcess;
}

async function createWorld(): Promise<World> {
  const schema = await createTestSchema('psc_burst_heap');
  const channel = uniqueName('psc_burst_heap');
  const functionName = `${schema.schema}.notify`;
  const names = namesFor(uniqueName('burst'));
  await schema.pool.query(`
    CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
    INSERT INTO counters SELECT i, 0 FROM generate_series(1, ${ROWS}) AS i;
  `);
  await installTriggers(schema.pool, ['counters'], { channel, functionName });
  const env = { DATABASE_URL: schema.url, REDIS_URL: redisUrl() };
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const processes: SpawnedProcess[] = [];
  const spawn = (args: string[], extra: Record<string, string> = {}): SpawnedProcess => {
    const proc = spawnCli([...args, '--namespace', names.namespace], { env: { ...env, ...extra } });
    processes.push(proc);
    return proc;
  };
  return {
    schema,
    names,
    redis,
    spawnBridge: () =>
      spawn(
        [
          'bridge',
          '--channel',
          channel,
          '--function-name',
          functionName,
          '--bridge-id',
          'burst',
          '--log-level',
          'warn',
          '--http-port',
          '0',
        ],
        { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` },
      ),
    spawnWatch: (mode) => spawn(['watch', '--mode', mode, '--table', 'counters']),
    async [Symbol.asyncDispose]() {
      await Promise.all(processes.map((proc) => proc.stop('SIGKILL')));
      for (const pattern of [`${names.namespace}:*`, `bull:${names.queue}:*`]) {
        const keys = await redis.keys(pattern);
        if (keys.length > 0) await redis.del(...keys);
      }
      redis.disconnect();
      await schema[Symbol.asyncDispose]();
    },
  };
}

/** Samples the bridge's used heap from /metrics until stopped; resolves with the highest value. */
function sampleHeap(http: string): { stop(): Promise<number> } {
  const stopped = new AbortController();
  let peak = 0;
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      try {
        const response = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(2_000) });
        const line = (await response.text()).split('\n').find((l) => l.startsWith(`${HEAP_USED} `));
        peak = Math.max(peak, Number(line?.slice(HEAP_USED.length + 1) ?? 0));
      } catch {
        // A bridge too busy to answer (or gone) misses a sample; its peak RSS is read as well.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      stopped.abort();
      await loop;
      return peak;
    },
  };
}

/** The value of each of `series` on the bridge's /metrics. */
async function metricValues(http: string, series: readonly string[]): Promise<number[]> {
  const lines = (await (await fetch(`${http}/metrics`)).text()).split('\n');
  return series.map((name) =>
    Number(lines.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1)),
  );
}

/** The process's peak resident set (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
}

/** Resolves once every watcher printed a version with `digest`; rejects when the bridge exits. */
function converged(
  bridge: SpawnedProcess,
  watchers: readonly SpawnedProcess[],
  digest: string,
  timeoutMs: number,
): Promise<unknown> {
  return Promise.race([
    Promise.all(
      watchers.map((watch) =>
        watch.waitForLine((l) => (JSON.parse(l) as { digest: string }).digest === digest, {
          timeoutMs,
        }),
      ),
    ),
    bridge.exit.then((exit) => {
      throw new Error(
        `the bridge exited (${JSON.stringify(exit)}): ${bridge.stderr.slice(-1_500)}`,
      );
    }),
  ]);
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

describe('bridge: a burst of commits in bounded memory', () => {
  it(
    `keeps leading with a ${HEAP_MB} MB heap through ${COMMITS} commits, and every cache converges`,
    { timeout: 180_000 },
    async () => {
      await using w = await createWorld();
      const bridge = w.spawnBridge();
      const started = await bridge.waitForLine((l) => l.includes('"event":"started"'), {
        timeoutMs: START_TIMEOUT_MS,
      });
      const { http } = JSON.parse(started) as { http: string };
      const term = await bridge.waitForLine((l) => l.includes('"event":"term"'), {
        timeoutMs: START_TIMEOUT_MS,
      });
      const { epoch } = JSON.parse(term) as { epoch: number };
      const watchers = [w.spawnWatch('redis'), w.spawnWatch('snapshot')];
      await converged(
        bridge,
        watchers,
        await tableDigest(w.schema.pool, 'counters'),
        START_TIMEOUT_MS,
      );

      const heap = sampleHeap(http);
      const start = Date.now();
      await updateBurst(w.schema.url, { commits: COMMITS, connections: CONNECTIONS, rows: ROWS });
      const committedMs = Date.now() - start;
      const digest = await tableDigest(w.schema.pool, 'counters');
      await converged(bridge, watchers, digest, CONVERGE_TIMEOUT_MS);
      const convergedMs = Date.now() - start;
      const heapPeak = await heap.stop();
      const rssPeak = await peakRss(bridge.child.pid ?? 0);
      const [received, folded, invalidates] = await metricValues(http, [
        'psc_bridge_notifications_received_total',
        'psc_bridge_notifications_folded_total',
        'psc_bridge_messages_published_total{type="invalidate"}',
      ]);
      console.info(
        `burst: ${COMMITS} commits in ${committedMs} ms; both caches converged ${convergedMs} ms ` +
          `after the first; bridge heap used peak ${mb(heapPeak)}, RSS peak ${mb(rssPeak)}; ` +
          `${received} notifications, ${folded} folded, ${invalidates} invalidates`,
      );

      const lease = parseLease(await w.redis.get(w.names.leader));
      expect({
        exit: bridge.child.exitCode ?? bridge.child.signalCode,
        terms: bridge.lines.filter((l) => l.includes('"event":"term"')).length,
        lease: { bridge: lease?.bridge, epoch: lease?.epoch },
      }).toEqual({ exit: null, terms: 1, lease: { bridge: 'burst', epoch } });
      const { rows } = await w.schema.pool.query('SELECT sum(n)::int AS n FROM counters');
      expect(rows).toEqual([{ n: COMMITS }]);
    },
  );
});

// `watch` through the real bin: its stdout lines must match the database after every kind of change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy } from '../support/fixtures/tcp-proxy.ts';
import {
  createTestSchema,
  redisUrl,
  tableDigest,
  uniqueName,
  type TestSchema,
} from '../support/index.ts';
import { parseJsonLine, runCli, spawnCli } from '../support/process.ts';

let s: TestSchema;
let env: { DATABASE_URL: string };

beforeAll(async () => {
  s = await createTestSchema('psc_cli_watch');
  env = { DATABASE_URL: s.url };
  await s.pool.query(`
    CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE "Mixed Case" ("Key" text, n int, label text, PRIMARY KEY ("Key", n));
    INSERT INTO items VALUES (1, 'one'), (2, 'two');
    INSERT INTO "Mixed Case" VALUES ('b', 1, 'x'), ('a', 2, 'y'), ('a', 1, 'z');
  `);
});

afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

interface VersionLine {
  readonly table: string;
  readonly rows: number;
  readonly digest: string;
  readonly version: number;
  readonly ms: number;
}

function parseLine(line: string): VersionLine {
  return JSON.parse(line) as VersionLine;
}

describe('watch', () => {
  it('prints a line per version that matches the database after every kind of change', async () => {
    const channel = uniqueName('psc_cli_watch');
    const mixed = `"${s.schema}"."Mixed Case"`;
    const names = { items: `${s.schema}.items`, mixed: `${s.schema}.Mixed Case` };
    const install = await runCli(['install', '--table', 'items', mixed, '--channel', channel], {
      env,
    });
    expect(install.code).toBe(0);

    await using watch = spawnCli(['watch', '--table', 'items', mixed, '--channel', channel], {
      env,
    });
    const next = async (table: string, from: number, digest: string): Promise<VersionLine> =>
      parseLine(
        await watch.waitForLine(
          (line) => {
            const parsed = parseLine(line);
            return parsed.table === table && parsed.digest === digest;
          },
          { from },
        ),
      );

    for (const [table, text] of [
      [names.items, 'items'],
      [names.mixed, mixed],
    ] as const) {
      const first = parseLine(await watch.waitForLine((line) => parseLine(line).table === table));
      expect(Object.keys(first)).toEqual(['table', 'rows', 'digest', 'version', 'ms']);
      expect(first).toMatchObject({ version: 1, digest: await tableDigest(s.pool, text) });
      expect(first.ms).toBeGreaterThanOrEqual(0);
    }
    await watch.waitForLine((line) => line.includes('"status":"ready"'), { stream: 'stderr' });

    const changes: [string, string, string][] = [
      ['INSERT', names.items, `INSERT INTO items VALUES (3, 'three')`],
      ['UPDATE', names.mixed, `UPDATE "Mixed Case" SET label = 'changed' WHERE "Key" = 'a'`],
      ['DELETE', names.items, `DELETE FROM items WHERE id = 1`],
      ['TRUNCATE', names.mixed, `TRUNCATE "Mixed Case"`],
      ['TRUNCATE', names.items, `TRUNCATE items`],
    ];
    for (const [kind, table, sql] of changes) {
      const from = watch.lines.length;
      await s.pool.query(sql);
      const digest = await tableDigest(s.pool, table === names.items ? 'items' : mixed);
      const line = await next(table, from, digest);
      expect(line.version, kind).toBeGreaterThan(1);
    }
    expect(parseLine(watch.lines.at(-1) ?? '{}')).toMatchObject({ rows: 0 });

    expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    // stderr carries only JSON events (a reconnect under load may legitimately add warnings).
    for (const line of watch.stderrLines) expect(JSON.parse(line)).toHaveProperty('event');
  });

  it('stops cleanly on SIGINT', async () => {
    await using watch = spawnCli(
      ['watch', '--table', 'items', '--channel', uniqueName('psc_cli')],
      {
        env,
      },
    );
    await watch.waitForLine((line) => line.includes('"status":"ready"'), { stream: 'stderr' });
    expect(await watch.stop('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('with --events, also prints each version on stderr with its reason and source', async () => {
    const channel = uniqueName('psc_cli_events');
    expect(
      (await runCli(['install', '--table', 'items', '--channel', channel], { env })).code,
    ).toBe(0);
    await using watch = spawnCli(['watch', '--table', 'items', '--channel', channel, '--events'], {
      env,
    });
    const reload = async (from: number): Promise<Record<string, unknown>> =>
      JSON.parse(
        await watch.waitForLine((line) => line.includes('"event":"reload"'), {
          stream: 'stderr',
          from,
        }),
      ) as Record<string, unknown>;
    const { table, rows, digest, version } = parseLine(await watch.waitForLine(() => true));
    expect(await reload(0)).toEqual({
      event: 'reload',
      ...{ table, rows, digest, version },
      reason: 'start',
      source: 'postgres',
    });
    const from = watch.stderrLines.length;
    await s.pool.query(`UPDATE items SET name = 'changed' WHERE id = 2`);
    expect(await reload(from)).toMatchObject({
      version: 2,
      digest: await tableDigest(s.pool, 'items'),
      reason: 'change',
      source: 'postgres',
    });
    // stdout keeps its contract: the same versions, five keys each.
    expect(watch.lines.map((line) => Object.keys(parseLine(line)).length)).toEqual([5, 5]);
  });

  it('--listen-heartbeat-interval-ms and --listen-heartbeat-timeout-ms set the LISTEN deadline', async () => {
    await using proxy = await startTcpProxy(s.url);
    await using watch = spawnCli(
      [
        'watch',
        '--table',
        'items',
        '--channel',
        uniqueName('psc_cli_listen'),
        '--listen-heartbeat-interval-ms',
        '100',
        '--listen-heartbeat-timeout-ms',
        '200',
      ],
      { env: { DATABASE_URL: proxy.proxiedUrl(s.url) } },
    );
    const status = (value: string, from: number) =>
      watch.waitForLine((line) => parseJsonLine(line)?.['status'] === value, {
        stream: 'stderr',
        from,
        // The defaults (a heartbeat every 5 s, 3 s to come back) would take 5 s at the least.
        timeoutMs: value === 'ready' && from === 0 ? 30_000 : 4_000,
      });
    await status('ready', 0);
    const from = watch.stderrLines.length;
    // The LISTEN path goes dead without a FIN: only the heartbeat can tell.
    expect(proxy.freezeListeners()).toBe(1);
    await status('reconnecting', from);
    await status('ready', from);
  });

  it('--bridge-silence-ms sets how long a silent bridge is waited for before caches count as stale', async () => {
    await using watch = spawnCli(
      [
        'watch',
        '--table',
        'items',
        '--mode',
        'redis',
        '--namespace',
        uniqueName('psc_cli_silence'),
        '--bridge-silence-ms',
        '300',
      ],
      { env: { ...env, REDIS_URL: redisUrl() } },
    );
    // No bridge runs in this namespace: the caches load from Postgres, then the silence shows.
    const warning = parseJsonLine(
      await watch.waitForLine((line) => line.includes('no message from the bridge'), {
        stream: 'stderr',
      }),
    );
    const silentMs = Number(/for (\d+) ms/.exec(String(warning?.['message']))?.[1]);
    expect(silentMs).toBeGreaterThanOrEqual(300);
    // The default is 6000 ms.
    expect(silentMs).toBeLessThan(6_000);
    await watch.waitForLine((line) => parseJsonLine(line)?.['status'] === 'reconnecting', {
      stream: 'stderr',
    });
  });
});

import { createHook } from 'node:async_hooks';
import { getTasks } from 'node-cron';
import {
  installTriggers,
  resolveTable,
  type ResolvedTable,
  type TriggerOptions,
} from '@pg-static-cache/postgres';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestSchema,
  uniqueName,
  waitFor,
  type TestSchema,
} from '@pg-static-cache/test-support';
import {
  ScheduledResync,
  type ResyncPublish,
  type ResyncReport,
  type ScheduledResyncOptions,
} from './scheduled-resync.ts';

type Published = Parameters<ResyncPublish>[0];
type LogLine = Record<string, unknown> & { level: number; msg: string };

let s: TestSchema;
// Idle clients keep no timers, so the test of close() can count the process's timers.
let pool: pg.Pool;
let triggerOptions: TriggerOptions;

beforeAll(async () => {
  s = await createTestSchema('psc_resync');
  pool = new pg.Pool({ connectionString: s.url, max: 4, idleTimeoutMillis: 0 });
  triggerOptions = { channel: uniqueName('psc_resync'), functionName: `${s.schema}.notify` };
});
afterAll(async () => {
  await pool.end();
  await s[Symbol.asyncDispose]();
});

// A table with triggers and a ScheduledResync over it whose publish, reports and logs are recorded.
async function setup(overrides: Partial<ScheduledResyncOptions> = {}, partitioned = false) {
  const name = uniqueName('items');
  await pool.query(
    partitioned
      ? `CREATE TABLE ${name} (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
         CREATE TABLE ${name}_p0 PARTITION OF ${name} FOR VALUES FROM (0) TO (100)`
      : `CREATE TABLE ${name} (id int PRIMARY KEY, v text)`,
  );
  const [table] = await installTriggers(pool, [name], triggerOptions);
  if (table === undefined) throw new Error('no table');
  const published: Published[] = [];
  const reports: ResyncReport[] = [];
  const logs: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logs.push(JSON.parse(line) as LogLine) },
  );
  const resync = new ScheduledResync({
    pool,
    tables: () => Promise.resolve([table]),
    publish: (message) => {
      published.push(message);
      return Promise.resolve();
    },
    triggerOptions,
    schedule: '0 0 1 1 *',
    logger,
    onReport: (report) => reports.push(report),
    ...overrides,
  });
  const write = async (sql: string): Promise<void> => {
    await pool.query(sql.replaceAll('$t', name));
  };
  return {
    name,
    table,
    resync,
    published,
    reports,
    logs,
    write,
    [Symbol.asyncDispose]: () => resync.close(),
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ScheduledResync', () => {
  it('records a baseline first, and reports no drift when every change was announced', async () => {
    await using fixture = await setup();
    const { table, resync, published, reports, write } = fixture;
    const first = await resync.runNow();
    expect(first).toMatchObject({ drifted: 0, triggersOk: true });
    expect(first.tables).toEqual([
      expect.objectContaining({ table: table.display, drifted: false }),
    ]);

    await write(`INSERT INTO $t VALUES (1, 'one')`);
    resync.noteAnnounced(table);
    const second = await resync.runNow();
    expect(second.drifted).toBe(0);
    expect(second.tables[0]?.digest).not.toBe(first.tables[0]?.digest);
    expect(published).toEqual([]);
    expect(reports).toEqual([first, second]);
  });

  it('invalidates a table whose content changed without an announcement, once', async () => {
    await using fixture = await setup();
    const { table, resync, published, logs, write } = fixture;
    await resync.runNow();
    await write(`INSERT INTO $t VALUES (1, 'unannounced')`);
    const report = await resync.runNow();
    expect(report.drifted).toBe(1);
    expect(report.tables[0]?.drifted).toBe(true);
    expect(published).toEqual([{ type: 'invalidate', table }]);
    expect(logs.some((l) => l.level === 40 && l.msg.startsWith('drift'))).toBe(true);

    expect((await resync.runNow()).drifted).toBe(0);
    expect(published).toHaveLength(1);
  });

  it('invalidates a watched table that was dropped, renamed or replaced since the last run', async () => {
    let current: ResolvedTable[] = [];
    await using fixture = await setup({ tables: () => Promise.resolve(current) });
    const { name, table, resync, published } = fixture;
    current = [table];
    await resync.runNow();
    // Renamed: same OID, another name. The apps holding it learn of the rename when they reload.
    await pool.query(`ALTER TABLE ${name} RENAME TO ${name}_away`);
    const renamed = await resolveTable(pool, `${name}_away`);
    current = [renamed];
    expect((await resync.runNow()).gone).toEqual([table.display]);
    expect(published).toEqual([{ type: 'invalidate', table }]);
    // Dropped: nothing left to watch; announced once.
    await pool.query(`DROP TABLE ${name}_away`);
    current = [];
    expect((await resync.runNow()).gone).toEqual([renamed.display]);
    expect((await resync.runNow()).gone).toEqual([]);
    expect(published).toEqual([
      { type: 'invalidate', table },
      { type: 'invalidate', table: renamed },
    ]);
  });

  it('finds a table that the bridge watched at start-up gone on the first run', async () => {
    const watched: ResolvedTable[] = [];
    await using fixture = await setup({
      // As the bridge's discovery does: listing the tables also replaces what it watches.
      tables: () => {
        watched.length = 0;
        return Promise.resolve([]);
      },
      watched: () => [...watched],
    });
    const { name, table, resync, published } = fixture;
    watched.push(table);
    await pool.query(`DROP TABLE ${name}`);
    expect((await resync.runNow()).gone).toEqual([table.display]);
    expect(published).toEqual([{ type: 'invalidate', table }]);
  });

  it('announces a table gone again on the next run when its invalidate could not be published', async () => {
    let current: ResolvedTable[] = [];
    let failing = true;
    const published: Published[] = [];
    await using fixture = await setup({
      tables: () => Promise.resolve(current),
      publish: (message) => {
        if (failing) return Promise.reject(new Error('Redis is down'));
        published.push(message);
        return Promise.resolve();
      },
    });
    const { table, resync } = fixture;
    current = [table];
    await resync.runNow();
    current = [];
    expect((await resync.runNow()).gone).toEqual([table.display]);
    failing = false;
    expect((await resync.runNow()).gone).toEqual([table.display]);
    expect(published).toEqual([{ type: 'invalidate', table }]);
    expect((await resync.runNow()).gone).toEqual([]);
  });

  it('finds drift on every run even when the publisher notes its own invalidates', async () => {
    const noted: { resync?: ScheduledResync } = {};
    await using fixture = await setup({
      publish: (message) => {
        // As the bridge does: every invalidate it publishes is noted as announced.
        if (message.type === 'invalidate') noted.resync?.noteAnnounced(message.table);
        return Promise.resolve();
      },
    });
    const { resync } = fixture;
    noted.resync = resync;
    await resync.runNow();
    for (const id of [1, 2, 3]) {
      await fixture.write(`INSERT INTO $t VALUES (${id}, 'unannounced')`);
      expect((await resync.runNow()).drifted).toBe(1);
    }
  });

  it('counts an announcement for a partition as one for its parent', async () => {
    await using fixture = await setup({}, true);
    const { name, table, resync, published, write } = fixture;
    const partition = await resolveTable(pool, `${name}_p0`);
    await resync.runNow();
    await write(`INSERT INTO $t_p0 VALUES (1, 'direct')`);
    resync.noteAnnounced(partition);
    expect((await resync.runNow()).drifted).toBe(0);
    await write(`INSERT INTO $t_p0 VALUES (2, 'not announced')`);
    expect((await resync.runNow()).drifted).toBe(1);
    expect(published).toEqual([{ type: 'invalidate', table }]);
  });

  it('reports and warns about a disabled trigger on every run', async () => {
    await using fixture = await setup({}, true);
    const { name, resync, logs, write } = fixture;
    await write(`ALTER TABLE $t_p0 DISABLE TRIGGER ${triggerOptions.channel ?? ''}`);
    for (let run = 0; run < 2; run += 1) {
      const report = await resync.runNow();
      expect(report.triggersOk).toBe(false);
      expect(report.tables[0]?.trigger.members).toEqual([
        expect.objectContaining({ table: `${s.schema}.${name}_p0`, state: 'disabled' }),
      ]);
    }
    const warnings = logs.filter((l) => l.level === 40 && l.table === `${s.schema}.${name}`);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.members).toEqual([`${s.schema}.${name}_p0: disabled`]);
  });

  it('never runs twice at once: a request or a tick during a run joins it', async () => {
    const gate = deferred();
    let calls = 0;
    await using fixture = await setup();
    const { table, logs } = fixture;
    await using slow = new ScheduledResync({
      pool,
      tables: async () => {
        calls += 1;
        await gate.promise;
        return [table];
      },
      publish: () => Promise.resolve(),
      triggerOptions,
      schedule: '*/1 * * * * *',
      logger: pino(
        { level: 'debug' },
        { write: (line: string) => logs.push(JSON.parse(line) as LogLine) },
      ),
      onReport: () => undefined,
    });
    const first = slow.runNow();
    expect(slow.runNow()).toBe(first);
    slow.start();
    await waitFor('a scheduled tick during the run', () =>
      logs.some((l) => l.msg === 'a run is still under way; this tick joins it'),
    );
    expect(calls).toBe(1);
    gate.resolve();
    const report = await first;
    expect(report.tables).toHaveLength(1);
    const next = slow.runNow();
    expect(next).not.toBe(first);
    await next;
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('runs on its cron schedule, and a failing run is logged and retried', async () => {
    let attempts = 0;
    await using fixture = await setup({
      schedule: '*/1 * * * * *',
      tables: () => {
        attempts += 1;
        return attempts === 1 ? Promise.reject(new Error('Postgres is down')) : Promise.resolve([]);
      },
    });
    const { resync, reports, logs } = fixture;
    resync.start();
    resync.start();
    await waitFor('two scheduled reports', () => reports.length >= 2, 10_000);
    expect(logs.find((l) => l.msg === 'scheduled resync failed')).toMatchObject({
      level: 50,
      err: expect.objectContaining({ message: 'Postgres is down' }) as unknown,
    });
  });

  it('logs a table whose check fails and still reports the others', async () => {
    const { table, resync: healthy } = await setup();
    await healthy.close();
    const down = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 1000 });
    const reports: ResyncReport[] = [];
    const failing = new ScheduledResync({
      pool: down,
      tables: () => Promise.resolve([table]),
      publish: () => Promise.resolve(),
      triggerOptions,
      schedule: '*/5 * * * *',
      logger: pino({ level: 'silent' }),
      onReport: (report) => reports.push(report),
    });
    try {
      const report = await failing.runNow();
      expect(report).toMatchObject({ tables: [], drifted: 0, triggersOk: false });
      expect(reports).toEqual([report]);
    } finally {
      await failing.close();
      await down.end();
    }
  });

  it('keeps the old digest when publishing fails, so the drift is invalidated on the next run', async () => {
    let fail = true;
    const sent: ResolvedTable[] = [];
    await using fixture = await setup({
      publish: (message) => {
        if (fail) return Promise.reject(new Error('Redis is down'));
        if (message.type === 'invalidate') sent.push(message.table);
        return Promise.resolve();
      },
    });
    const { table, resync, write } = fixture;
    await resync.runNow();
    await write(`INSERT INTO $t VALUES (1, 'x')`);
    expect(await resync.runNow()).toMatchObject({ tables: [], triggersOk: false });
    fail = false;
    expect((await resync.runNow()).drifted).toBe(1);
    expect(sent).toEqual([table]);
  });

  it('close() stops the schedule, waits for the run under way, and leaves no timers', async () => {
    const tasksBefore = getTasks().size;
    const gate = deferred();
    let entered = false;
    const { resync, reports } = await setup({
      schedule: '*/1 * * * * *',
      tables: async () => {
        entered = true;
        await gate.promise;
        return [];
      },
    });
    // Every timer created from here on, until it fires or is cleared.
    const timers = new Set<number>();
    const hook = createHook({
      init: (id, type) => {
        if (type === 'Timeout') timers.add(id);
      },
      destroy: (id) => timers.delete(id),
    }).enable();
    try {
      resync.start();
      expect(getTasks().size).toBe(tasksBefore + 1);
      expect(timers.size).toBeGreaterThan(0);
      await waitFor('a scheduled run to start', () => entered, 5_000);
      let closed = false;
      const closing = resync.close().then(() => (closed = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(closed).toBe(false);
      gate.resolve();
      await closing;
      expect(reports).toHaveLength(0); // a run cut short by close() is not reported
      await resync.close();
      await expect(resync.runNow()).rejects.toThrow('closed');
      expect(getTasks().size).toBe(tasksBefore);
      await new Promise((resolve) => setImmediate(resolve));
      expect(timers.size).toBe(0);
    } finally {
      hook.disable();
    }
  });

  it('refuses an invalid schedule', () => {
    expect(
      () =>
        new ScheduledResync({
          pool,
          tables: () => Promise.resolve([]),
          publish: () => Promise.resolve(),
          triggerOptions,
          schedule: 'every minute',
          logger: pino({ level: 'silent' }),
          onReport: () => undefined,
        }),
    ).toThrow('invalid resync schedule');
  });
});

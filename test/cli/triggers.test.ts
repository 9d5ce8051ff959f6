// install, check and uninstall through the real bin, in a private schema with private channels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, uniqueName, type TestSchema } from '../support/index.ts';
import { runCli } from '../support/process.ts';

let s: TestSchema;
let env: { DATABASE_URL: string };

beforeAll(async () => {
  s = await createTestSchema('psc_cli_triggers');
  env = { DATABASE_URL: s.url };
  await s.pool.query(`
    CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE parts (id int, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE parts_2024 PARTITION OF parts FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE parts_2025 PARTITION OF parts FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  `);
});

afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

describe('install, check, uninstall', () => {
  it('--print-sql needs no database and installs a TRUNCATE-aware trigger when run', async () => {
    const channel = uniqueName('psc_cli_sql');
    const printed = await runCli(
      ['install', '--table', 'items', '--channel', channel, '--print-sql'],
      {
        env: { DATABASE_URL: undefined },
      },
    );
    expect(printed).toMatchObject({ code: 0, stderr: '' });
    expect(printed.stdout).toContain(`'"items"'::pg_catalog.regclass`);
    expect(printed.stdout).toMatch(
      /AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT/,
    );

    await s.pool.query(printed.stdout);
    const ok = await runCli(['check', '--table', 'items', '--channel', channel], { env });
    expect(ok).toMatchObject({ code: 0, stderr: '' });

    const removal = await runCli([
      'uninstall',
      '--table',
      'items',
      '--channel',
      channel,
      '--print-sql',
    ]);
    expect(removal.code).toBe(0);
    await s.pool.query(removal.stdout);
    const gone = await runCli(['check', '--table', 'items', '--channel', channel], { env });
    expect(gone.code).toBe(1);
    expect(gone.stdout).toContain('missing');
  });

  it('install → ok (exit 0); disabled trigger → exit 1; uninstall → missing', async () => {
    const channel = uniqueName('psc_cli_check');
    const install = await runCli(['install', '--table', 'items', 'parts', '--channel', channel], {
      env,
    });
    expect(install).toMatchObject({ code: 0, stderr: '' });
    expect(install.stdout).toBe(
      `installed trigger ${channel} on ${s.schema}.items\n` +
        `installed trigger ${channel} on ${s.schema}.parts (+2 partitions)\n`,
    );

    const ok = await runCli(['check', '--table', 'items', 'parts', '--channel', channel], { env });
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toMatch(/^TABLE\s+STATE\s+ENABLED\s+CHANNEL\s+MEMBERS$/m);
    expect(ok.stdout).toMatch(
      new RegExp(`^${s.schema}\\.items\\s+ok\\s+yes\\s+${channel}\\s+-$`, 'm'),
    );
    expect(ok.stdout).toMatch(
      new RegExp(`^${s.schema}\\.parts\\s+ok\\s+yes\\s+${channel}\\s+2/2 ok$`, 'm'),
    );

    // Without --table, check finds every table that carries the trigger.
    const all = await runCli(['check', '--channel', channel, '--json'], { env });
    expect(all.code).toBe(0);
    const reports = JSON.parse(all.stdout) as { table: string; ok: boolean }[];
    expect(reports.map((r) => [r.table, r.ok])).toEqual([
      [`${s.schema}.items`, true],
      [`${s.schema}.parts`, true],
    ]);

    await s.pool.query(`ALTER TABLE items DISABLE TRIGGER "${channel}"`);
    await s.pool.query(`ALTER TABLE parts_2025 DISABLE TRIGGER "${channel}"`);
    const disabled = await runCli(['check', '--table', 'items', 'parts', '--channel', channel], {
      env,
    });
    expect(disabled).toMatchObject({ code: 1, stderr: '' });
    expect(disabled.stdout).toMatch(new RegExp(`^${s.schema}\\.items\\s+disabled\\s+no\\s`, 'm'));
    expect(disabled.stdout).toMatch(
      new RegExp(`^${s.schema}\\.parts\\s+ok\\s+yes\\s+${channel}\\s+1/2 ok$`, 'm'),
    );
    expect(disabled.stdout).toMatch(
      new RegExp(`^  ${s.schema}\\.parts_2025\\s+disabled\\s+no\\s`, 'm'),
    );

    // Install again repairs it.
    expect(
      (await runCli(['install', '--table', 'items', 'parts', '--channel', channel], { env })).code,
    ).toBe(0);
    expect(
      (await runCli(['check', '--table', 'items', 'parts', '--channel', channel], { env })).code,
    ).toBe(0);

    const uninstall = await runCli(
      ['uninstall', '--table', 'items', 'parts', '--channel', channel],
      { env },
    );
    expect(uninstall).toMatchObject({ code: 0, stderr: '' });
    expect(uninstall.stdout).toContain(`removed trigger ${channel} from ${s.schema}.items\n`);
    const after = await runCli(['check', '--table', 'items', '--channel', channel, '--json'], {
      env,
    });
    expect(after.code).toBe(1);
    expect(JSON.parse(after.stdout)).toMatchObject([{ state: 'missing', ok: false }]);
  });

  it('--database-url overrides DATABASE_URL', async () => {
    const run = await runCli(['check', '--table', 'items', '--database-url', s.url], {
      env: { DATABASE_URL: 'notaurl' },
    });
    expect(run).toMatchObject({ code: 1, stderr: '' });
    expect(run.stdout).toContain('missing');
  });
});

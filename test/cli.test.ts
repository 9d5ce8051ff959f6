// The `pg-static-cache` command's contract for bad input, help and version, run as users run it:
// the real bin in its own process. Trigger commands and watch are in test/cli/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, databaseUrl, type TestSchema } from './support/index.ts';
import { repoRoot } from '@pg-static-cache/local-services';
import { expectOneLineFailure } from './support/cli-failure.ts';
import { CLI_BIN, runCli, runCommand } from './support/process.ts';

let s: TestSchema;
let env: { DATABASE_URL: string };

beforeAll(async () => {
  s = await createTestSchema('psc_cli');
  env = { DATABASE_URL: s.url };
  await s.pool.query(`
    CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE no_pk (v text);
  `);
});

afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

describe.concurrent('bad input: exit 2, one stderr line, no stack trace', () => {
  const unreachable = (): string => {
    const url = new URL(databaseUrl());
    url.port = '1';
    return url.toString();
  };
  const cases: [string, string[], () => Record<string, string | undefined>, RegExp][] = [
    [
      'unknown flag',
      ['install', '--table', 'items', '--bogus'],
      () => env,
      /unknown option '--bogus'/,
    ],
    ['unknown command', ['bogus'], () => env, /unknown command 'bogus'/],
    ['missing --table', ['install'], () => env, /required option .*--table/],
    ['missing --table for watch', ['watch'], () => env, /required option .*--table/],
    ['a bad URL', ['check'], () => ({ DATABASE_URL: 'notaurl' }), /DATABASE_URL is not a valid/],
    ['a bad --database-url', ['check', '--database-url', 'mysql://x'], () => env, /--database-url/],
    ['no URL at all', ['check'], () => ({ DATABASE_URL: undefined }), /no database/],
    [
      'an unreachable database',
      ['check'],
      () => ({ DATABASE_URL: unreachable() }),
      /cannot connect.*ECONNREFUSED/,
    ],
    [
      'an unknown role',
      ['check'],
      () => {
        const url = new URL(s.url);
        url.username = 'no_such_role_psc';
        return { DATABASE_URL: url.toString() };
      },
      /cannot connect.*no_such_role_psc/,
    ],
    [
      'an unknown table',
      ['install', '--table', 'no_such_table'],
      () => env,
      /"no_such_table" does not exist/,
    ],
    [
      'an unknown table in check',
      ['check', '--table', 'items', 'nope'],
      () => env,
      /"nope" does not exist/,
    ],
    [
      'an invalid table name',
      ['install', '--table', '"unterminated'],
      () => env,
      /invalid table name/,
    ],
    ['a view', ['install', '--table', 'pg_catalog.pg_tables'], () => env, /is a view, not a table/],
    [
      'an invalid channel',
      ['install', '--table', 'items', '--channel', ''],
      () => env,
      /invalid channel/,
    ],
    [
      'a bad --listen-heartbeat-interval-ms',
      ['watch', '--table', 'items', '--listen-heartbeat-interval-ms', '0'],
      () => env,
      /'--listen-heartbeat-interval-ms <ms>' argument '0' is invalid/,
    ],
    [
      'a bad --bridge-silence-ms',
      ['watch', '--table', 'items', '--mode', 'redis', '--bridge-silence-ms', 'soon'],
      () => env,
      /'--bridge-silence-ms <ms>' argument 'soon' is invalid/,
    ],
    [
      'a bad --snapshot-wait-ms',
      ['watch', '--table', 'items', '--mode', 'snapshot', '--snapshot-wait-ms', '-1'],
      () => env,
      /'--snapshot-wait-ms <ms>' argument '-1' is invalid/,
    ],
    [
      'a bad --backoff-cap-ms',
      ['watch', '--table', 'items', '--backoff-cap-ms', '1.5'],
      () => env,
      /'--backoff-cap-ms <ms>' argument '1.5' is invalid/,
    ],
    [
      'a --backoff-base-ms above --backoff-cap-ms',
      ['watch', '--table', 'items', '--backoff-base-ms', '300', '--backoff-cap-ms', '200'],
      () => env,
      /^pg-static-cache: --backoff-base-ms \(300\) must not exceed --backoff-cap-ms \(200\)$/,
    ],
    [
      'a --replica that is no database URL (never echoed: it may hold a password)',
      ['watch', '--table', 'items', '--replica', 'mysql://user:secret@replica/db'],
      () => env,
      /^pg-static-cache: --replica is not a valid database URL \(expected postgres:\/\/user:password@host:port\/database\)$/,
    ],
    [
      'a --replica-wait-ms without a replica',
      ['watch', '--table', 'items', '--replica-wait-ms', '500'],
      () => env,
      /^pg-static-cache: --replica-wait-ms needs --replica \(or PSC_REPLICA_URL\)$/,
    ],
    [
      'watch --heartbeat-ms, renamed (the bridge has a --heartbeat-ms that means its publish period)',
      ['watch', '--table', 'items', '--heartbeat-ms', '100'],
      () => env,
      /^pg-static-cache: --heartbeat-ms was renamed: use --listen-heartbeat-interval-ms$/,
    ],
    [
      'watch on a table without primary key',
      ['watch', '--table', 'no_pk'],
      () => env,
      /no_pk has no primary key/,
    ],
    [
      'watch on an unknown table',
      ['watch', '--table', 'items', 'ghost'],
      () => env,
      /"ghost" does not exist/,
    ],
    [
      'watch on an unreachable database',
      ['watch', '--table', 'items'],
      () => ({ DATABASE_URL: unreachable() }),
      /cannot connect.*ECONNREFUSED/,
    ],
    [
      'watch --mode nonsense',
      ['watch', '--table', 'items', '--mode', 'x'],
      () => env,
      /argument 'x' is invalid/,
    ],
  ];
  it.each(cases)('%s', async (_name, args, makeEnv, text) => {
    expectOneLineFailure(await runCli(args, { env: makeEnv() }), text);
  });
});

describe.concurrent('help and version', () => {
  it.each([['install'], ['uninstall'], ['check'], ['watch']])('%s --help', async (command) => {
    const run = await runCli([command, '--help'], { env: { DATABASE_URL: undefined } });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`Usage: pg-static-cache ${command} [options]`);
    expect(run.stdout).toContain('Exit codes:');
  });

  it('--version', async () => {
    const run = await runCli(['--version']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('a reader that stops early (| head) ends it quietly: no EPIPE stack trace', async () => {
    // `true` exits without reading, so the help text is written to a closed pipe.
    const run = await runCommand('sh', ['-c', `"${CLI_BIN}" watch --help | true`], {
      cwd: repoRoot,
    });
    expect(run).toMatchObject({ code: 0, stderr: '' });
  });

  it('no command: help on stderr, exit 2', async () => {
    const run = await runCli([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Usage: pg-static-cache');
  });
});

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLoginRole } from '@pg-static-cache/test-support/fixtures/login-role';
import { rejectionCode, withSearchPath } from '@pg-static-cache/test-support';
import { PostgresError } from './errors.ts';
import {
  eventTriggerInstallSql,
  eventTriggerNaming,
  eventTriggerUninstallSql,
  installEventTrigger,
  uninstallEventTrigger,
} from './event-trigger.ts';
import { quoteIdent } from './identifiers.ts';
import { ListenConnection, type Notification } from './listen-connection.ts';
import { installTriggers, type TriggerOptions } from './triggers.ts';

const databaseUrl = inject('databaseUrl');
const suffix = randomBytes(4).toString('hex');
// Mixed case: the event trigger compares unquoted catalog names.
const schema = `EventTrig_${suffix}`;
const channel = `psc_evt_${suffix}`;
// The function in the test schema: dropping the schema at the end drops the event trigger too.
const options: TriggerOptions = { channel, functionName: `"${schema}".notify` };

let db: pg.Pool;
let listen: ListenConnection;
const received: Notification[] = [];

beforeAll(async () => {
  db = new pg.Pool({ connectionString: withSearchPath(databaseUrl, schema), max: 2 });
  await db.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  listen = new ListenConnection({ connection: databaseUrl, channels: [channel] });
  listen.on('notification', (n) => received.push(n));
  await listen.start();
});

afterAll(async () => {
  await listen.close();
  await db.query(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
  await db.end();
});

/** Runs `sql`, then returns the payloads it notified (a marker NOTIFY after it closes the list). */
async function notifiedBy(sql: string, as: pg.Pool | pg.Client = db): Promise<string[]> {
  received.length = 0;
  await as.query(sql);
  const marker = `marker-${randomBytes(4).toString('hex')}`;
  await db.query('SELECT pg_notify($1, $2)', [channel, marker]);
  const deadline = Date.now() + 5_000;
  while (!received.some((n) => n.payload === marker)) {
    if (Date.now() > deadline) throw new Error('the marker notification never arrived');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return received.map((n) => n.payload).filter((p) => p !== marker);
}

async function oidOf(table: string): Promise<string> {
  const result = await db.query<{ oid: number }>('SELECT $1::regclass::oid AS oid', [table]);
  return String(result.rows[0]?.oid);
}

async function eventTriggerExists(): Promise<boolean> {
  const { eventTriggerName } = eventTriggerNaming(options);
  const found = await db.query('SELECT 1 FROM pg_event_trigger WHERE evtname = $1', [
    eventTriggerName,
  ]);
  return found.rowCount === 1;
}

describe('sql_drop event trigger', () => {
  it('notifies the OID of a dropped table that carried our trigger, and nothing else', async () => {
    await installEventTrigger(db, options);
    // Twice: installing again is how it is updated.
    const naming = await installEventTrigger(db, options);
    expect(naming.eventTriggerName).toBe(`${channel}_drop`);
    await db.query(`
      CREATE TABLE "Plans" (id int PRIMARY KEY, name text);
      CREATE TABLE other (id int PRIMARY KEY);
      CREATE TABLE parts (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
      CREATE TABLE parts_0 PARTITION OF parts FOR VALUES FROM (0) TO (10);
    `);
    await installTriggers(db, ['"Plans"', 'parts'], options);
    const plans = await oidOf('"Plans"');
    const [parts, part0] = [await oidOf('parts'), await oidOf('parts_0')];

    expect(await notifiedBy('ALTER TABLE "Plans" DROP COLUMN name')).toEqual([plans]);
    expect(await notifiedBy('DROP TABLE other')).toEqual([]);
    expect(await notifiedBy('DROP TABLE "Plans"')).toEqual([plans]);
    // A partition dropped alone changes the parent's rows; dropping the parent drops both.
    expect(await notifiedBy('DROP TABLE parts_0')).toEqual([part0]);
    expect(await notifiedBy('DROP TABLE parts')).toEqual([parts]);
    expect(await notifiedBy('CREATE TEMP TABLE scratch (id int); DROP TABLE scratch')).toEqual([]);
  });

  it('does not stand in the way of a DROP by a role that is not a superuser', async () => {
    await installEventTrigger(db, options);
    await using role = await createLoginRole(db, databaseUrl, schema);
    await db.query(`GRANT CREATE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(role.name)}`);
    const owner = new pg.Client({ connectionString: withSearchPath(role.url, schema) });
    await owner.connect();
    try {
      await owner.query('CREATE TABLE owned (id int PRIMARY KEY)');
      await installTriggers(db, ['owned'], options);
      const oid = await oidOf('owned');
      expect(await notifiedBy('DROP TABLE owned', owner)).toEqual([oid]);
      // Installing it is another matter.
      expect(await rejectionCode(installEventTrigger(owner, options), PostgresError)).toBe(
        'NOT_SUPERUSER',
      );
    } finally {
      await owner.end();
    }
  });

  it('uninstalls; the printed SQL does what the functions do', async () => {
    await installEventTrigger(db, options);
    await uninstallEventTrigger(db, options);
    expect(await eventTriggerExists()).toBe(false);

    await db.query(eventTriggerInstallSql(options));
    expect(await eventTriggerExists()).toBe(true);
    await db.query('CREATE TABLE printed (id int PRIMARY KEY)');
    await installTriggers(db, ['printed'], options);
    const oid = await oidOf('printed');
    expect(await notifiedBy('DROP TABLE printed')).toEqual([oid]);
    await db.query(eventTriggerUninstallSql(options));
    expect(await eventTriggerExists()).toBe(false);
  });

  it('refuses names that would be longer than Postgres allows', () => {
    expect(() => eventTriggerNaming({ channel: 'c'.repeat(60) })).toThrow(/longer than 63 bytes/);
  });
});

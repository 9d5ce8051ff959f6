// The demo's tables, their first rows, and the low-privilege roles the app processes and the
// bridges log in as.
import { randomBytes } from 'node:crypto';
import {
  checkTriggers,
  digestRows,
  formatTableName,
  installTriggers,
  quoteIdent,
  quoteLiteral,
  resolveTable,
  selectRowsSql,
  uninstallTriggers,
  type TriggerReport,
} from '@pg-static-cache/postgres';
import type pg from 'pg';

/** The tables every app process caches, by their name inside the demo schema. */
export const DEMO_TABLES = ['countries', 'plans', 'feature_flags'] as const;

/** One of {@link DEMO_TABLES}. */
export type DemoTable = (typeof DEMO_TABLES)[number];

/** The role the apps connect as: derived from the schema so parallel runs never share one. */
export const appRoleName = (schema: string): string => `${schema}_app`;

/**
 * The role the bridges connect as. Its own role (not the admin's) lets the demo count exactly its
 * bridges' sessions, and shows what a bridge needs: SELECT on the tables, nothing more (a bridge
 * fences another bridge's session, which the same role may do).
 */
export const bridgeRoleName = (schema: string): string => `${schema}_bridge`;

const TABLES_SQL = `
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL, currency text NOT NULL);
CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL, price_cents int NOT NULL, active bool NOT NULL);
CREATE TABLE feature_flags (name text PRIMARY KEY, enabled bool NOT NULL, rollout_percent int NOT NULL);
INSERT INTO countries VALUES
  ('DE', 'Germany', 'EUR'), ('FR', 'France', 'EUR'), ('GB', 'United Kingdom', 'GBP'),
  ('JP', 'Japan', 'JPY'), ('US', 'United States', 'USD');
INSERT INTO plans VALUES
  (1, 'Free', 0, true), (2, 'Pro', 1900, true), (3, 'Team', 4900, true), (4, 'Legacy', 990, false);
INSERT INTO feature_flags VALUES
  ('new_checkout', true, 100), ('dark_mode', false, 0), ('beta_search', true, 10);`;

/** What {@link createDemoSchema} made. */
export interface DemoSchema {
  readonly schema: string;
  readonly role: string;
  /** The admin URL with the app role's credentials instead. */
  readonly appUrl: string;
  readonly bridgeRole: string;
  /** The admin URL with the bridge role's credentials instead. */
  readonly bridgeUrl: string;
  /** Rows per table right after seeding. */
  readonly seeded: Readonly<Record<DemoTable, number>>;
  readonly triggers: readonly TriggerReport[];
}

/** The same URL, logged in as another user. */
function withUser(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

const qualified = (schema: string): string[] =>
  DEMO_TABLES.map((name) => formatTableName({ schema, name }));

/**
 * Recreates the schema with seeded tables, installs the triggers, and (re)creates the app and
 * bridge roles with fresh passwords: USAGE on the schema and SELECT on each table, nothing more.
 */
export async function createDemoSchema(
  db: pg.Pool,
  databaseUrl: string,
  schema: string,
  channel: string,
): Promise<DemoSchema> {
  const login = (role: string) => ({ role, password: randomBytes(12).toString('hex') });
  const app = login(appRoleName(schema));
  const bridge = login(bridgeRoleName(schema));
  const s = quoteIdent(schema);
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE; CREATE SCHEMA ${s}`);
    await client.query(`SET LOCAL search_path TO ${s}`);
    await client.query(TABLES_SQL);
    for (const { role, password } of [app, bridge]) {
      const exists = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [
        role,
      ]);
      const verb = exists.rowCount === 0 ? 'CREATE' : 'ALTER';
      await client.query(
        `${verb} ROLE ${quoteIdent(role)} LOGIN PASSWORD ${quoteLiteral(password)}`,
      );
      await client.query(`GRANT USAGE ON SCHEMA ${s} TO ${quoteIdent(role)}`);
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${quoteIdent(role)}`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  await installTriggers(db, qualified(schema), { channel });
  const triggers = await checkTriggers(db, { channel, tables: qualified(schema) });
  const digests = await tableDigests(db, schema);
  return {
    schema,
    role: app.role,
    appUrl: withUser(databaseUrl, app.role, app.password),
    bridgeRole: bridge.role,
    bridgeUrl: withUser(databaseUrl, bridge.role, bridge.password),
    seeded: {
      countries: digests.countries.rows,
      plans: digests.plans.rows,
      feature_flags: digests.feature_flags.rows,
    },
    triggers,
  };
}

/** A table's contents as the `watch` digest, and its row count. */
export interface TableDigest {
  readonly digest: string;
  readonly rows: number;
}

/** The digest of every demo table as the database holds it now (what a converged cache serves). */
export async function tableDigests(
  db: pg.Pool,
  schema: string,
): Promise<Record<DemoTable, TableDigest>> {
  const entries = await Promise.all(
    DEMO_TABLES.map(async (name) => {
      const table = await resolveTable(db, formatTableName({ schema, name }));
      const result = await db.query(selectRowsSql(table));
      return [name, { digest: digestRows(result.rows), rows: result.rows.length }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<DemoTable, TableDigest>;
}

/** Removes what the demo created: schema, roles, and the trigger function once no trigger uses it. */
export async function dropDemo(db: pg.Pool, schema: string, channel: string): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  for (const role of [appRoleName(schema), bridgeRoleName(schema)]) {
    await db.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  }
  await uninstallTriggers(db, [], { channel });
}

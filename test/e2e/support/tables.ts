// The tables every e2e scenario caches: three keyed tables in a schema of their own, on any
// cluster (the shared one or a private one), with triggers on the scenario's own NOTIFY channel,
// and the plain pg commits the scenarios make between chaos steps.
import { quoteIdent } from '@pg-static-cache/postgres';
import pg from 'pg';
import { createTables } from '../../support/fixtures/direct-mode.ts';
import { uniqueName, withSearchPath } from '../../support/index.ts';

/** The three tables of every scenario. */
export const TABLES = ['alpha', 'beta', 'gamma'] as const;

/** Name of one of {@link TABLES}. */
export type TableName = (typeof TABLES)[number];

/** Ids a change touches: upserts and deletes stay within 1..KEYS, so tables stay small. */
const KEYS = 40;

/** The scenario's schema, tables and channel; the schema is dropped on dispose. */
export interface ScenarioTables extends AsyncDisposable {
  readonly schema: string;
  readonly channel: string;
  /** The database URL with the schema first on the search_path, for bridges and apps. */
  readonly url: string;
  /** Sessions of the test itself (changes and digests). */
  readonly pool: pg.Pool;
  /**
   * Commits one change to `table` on `db` (default: the pool): an upsert with a label never used
   * before, so the table's digest always changes, and every fifth time a delete of another row.
   */
  change(table: TableName, db?: pg.Pool | pg.Client): Promise<void>;
  /** Commits one change to each table. */
  changeAll(db?: pg.Pool | pg.Client): Promise<void>;
}

/** Creates a schema on the cluster at `baseUrl`, the three tables (3 rows each) and their triggers. */
export async function createScenarioTables(
  baseUrl: string,
  prefix: string,
): Promise<ScenarioTables> {
  const schema = uniqueName(prefix);
  const channel = uniqueName(`${prefix}_ch`);
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  } finally {
    await admin.end();
  }
  const url = withSearchPath(baseUrl, schema);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // Restart and termination scenarios kill idle sessions on purpose.
  pool.on('error', () => undefined);
  const dispose = async () => {
    await pool.query(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`).catch(() => undefined);
    await pool.end();
  };
  try {
    await createTables(pool, TABLES, channel);
  } catch (error) {
    await dispose();
    throw error;
  }
  let counter = 0;
  const change = async (table: TableName, db: pg.Pool | pg.Client = pool): Promise<void> => {
    counter += 1;
    const id = 1 + ((counter * 7) % KEYS);
    const deleted = counter % 5 === 0 ? 1 + ((id + 3) % KEYS) : 0;
    const name = quoteIdent(table);
    await db.query(
      `WITH gone AS (DELETE FROM ${name} WHERE id = $3)
       INSERT INTO ${name} (id, label) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label`,
      [id, `change ${counter}`, deleted],
    );
  };
  return {
    schema,
    channel,
    url,
    pool,
    change,
    async changeAll(db) {
      for (const table of TABLES) await change(table, db);
    },
    [Symbol.asyncDispose]: dispose,
  };
}

/** Commits running in the background until stopped. */
export interface Traffic {
  /** Stops after the commit in flight; resolves with the number of commits (rejects if one failed). */
  stop(): Promise<number>;
}

/** Commits a change every `intervalMs`, round-robin over the tables, on the scenario's pool. */
export function startTraffic(tables: ScenarioTables, intervalMs: number): Traffic {
  const stopping = new AbortController();
  let commits = 0;
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      await tables.change(TABLES[commits % TABLES.length] ?? 'alpha');
      commits += 1;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  // Seen by stop(); without this, a failure before stop() would be an unhandled rejection.
  loop.catch(() => undefined);
  return {
    async stop() {
      stopping.abort();
      await loop;
      return commits;
    },
  };
}

/**
 * Commits `commits` changes as fast as `connections` sessions of their own can, spread over the
 * tables; `onCommitted(n)` is called after the n-th commit (1-based, in completion order).
 */
export async function burst(
  tables: ScenarioTables,
  {
    commits,
    connections,
    onCommitted,
  }: {
    readonly commits: number;
    readonly connections: number;
    readonly onCommitted?: (n: number) => void;
  },
): Promise<void> {
  const clients = Array.from({ length: connections }, () => new pg.Client(tables.url));
  try {
    await Promise.all(clients.map((client) => client.connect()));
    let started = 0;
    let done = 0;
    await Promise.all(
      clients.map(async (client) => {
        while (started < commits) {
          const table = TABLES[started % TABLES.length] ?? 'alpha';
          started += 1;
          await tables.change(table, client);
          done += 1;
          onCommitted?.(done);
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }
}

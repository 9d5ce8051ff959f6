// The tables the soak writes to and every app caches: the e2e scenario's three (alpha, beta,
// gamma) and one whose schema and name need quoting everywhere, "Weird Schema"."Mixed Case",
// with a composite text key. Each can be dropped and created again with a few rows.
import { installTriggers, resolveTable } from '@pg-static-cache/postgres';
import { createScenarioTables, TABLES, type ScenarioTables } from '../e2e/support/tables.ts';

/** One cached table. */
export interface SoakTable {
  /** As a user writes it in SQL and on the command line. */
  readonly sql: string;
  /** As `watch` names it in its lines (`schema.name`, unquoted). */
  readonly display: string;
  /** Commits one change: an upsert with a label never used before, sometimes a delete too. */
  change(): Promise<void>;
  /** Statements that create it again, with a few rows, once it was dropped (no trigger yet). */
  readonly createSql: string;
}

/** The scenario schema (its pool, channel and URL) and the four tables. */
export interface SoakTables {
  readonly scenario: ScenarioTables;
  readonly all: readonly SoakTable[];
}

const WEIRD = '"Weird Schema"."Mixed Case"';
const WEIRD_KEYS = ['a', 'B', 'c d', 'Ä'];
const WEIRD_NUMBERS = 6;

const keyedTableSql = (sql: string): string =>
  `CREATE TABLE ${sql} (id int PRIMARY KEY, label text NOT NULL);
   INSERT INTO ${sql} (id, label) VALUES (1, 'again 1'), (2, 'again 2')`;

const weirdTableSql = `CREATE TABLE ${WEIRD} ("Key" text, n int, label text NOT NULL, PRIMARY KEY ("Key", n));
   INSERT INTO ${WEIRD} VALUES ('a', 1, 'first'), ('B', 2, 'second')`;

/** Creates the scenario schema on the cluster at `baseUrl`, and the weird table beside it. */
export async function createSoakTables(baseUrl: string): Promise<SoakTables> {
  const scenario = await createScenarioTables(baseUrl, 'soak');
  const { pool, channel } = scenario;
  try {
    await pool.query(`CREATE SCHEMA "Weird Schema"; ${weirdTableSql}`);
    // The trigger function lives in the scenario schema (first on the pool's search_path).
    await installTriggers(pool, [WEIRD], { channel });
    let counter = 0;
    const changeWeird = async (): Promise<void> => {
      counter += 1;
      const key = WEIRD_KEYS[counter % WEIRD_KEYS.length] ?? 'a';
      const n = 1 + (counter % WEIRD_NUMBERS);
      const gone = counter % 4 === 0 ? WEIRD_KEYS[(counter + 1) % WEIRD_KEYS.length] : null;
      await pool.query(
        `WITH gone AS (DELETE FROM ${WEIRD} WHERE "Key" = $4 AND n = $2)
         INSERT INTO ${WEIRD} ("Key", n, label) VALUES ($1, $2, $3)
         ON CONFLICT ("Key", n) DO UPDATE SET label = EXCLUDED.label`,
        [key, n, `weird ${counter}`, gone],
      );
    };
    const keyed = TABLES.map((name) => ({
      sql: name,
      change: () => scenario.change(name),
      createSql: keyedTableSql(name),
    }));
    const specs = [...keyed, { sql: WEIRD, change: changeWeird, createSql: weirdTableSql }];
    const all: SoakTable[] = [];
    for (const spec of specs) {
      all.push({ ...spec, display: (await resolveTable(pool, spec.sql)).display });
    }
    return { scenario, all };
  } catch (error) {
    await scenario[Symbol.asyncDispose]();
    throw error;
  }
}

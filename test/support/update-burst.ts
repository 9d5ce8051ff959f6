import pg from 'pg';

/** The shape of a burst: `commits` single-row updates of `counters`, spread over `connections`. */
export interface UpdateBurst {
  readonly commits: number;
  readonly connections: number;
  /** `counters` has rows 1..rows; commit i updates row (i mod rows) + 1. */
  readonly rows: number;
}

/**
 * Commits `UPDATE counters SET n = n + 1` one row and one transaction at a time, from several
 * connections at once: the burst a bridge or a worker must fold without losing the last change.
 */
export async function updateBurst(url: string, burst: UpdateBurst): Promise<void> {
  const { commits, connections, rows } = burst;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        for (let i = c; i < commits; i += connections) {
          await client.query('UPDATE counters SET n = n + 1 WHERE id = $1', [(i % rows) + 1]);
        }
      } finally {
        await client.end();
      }
    }),
  );
}

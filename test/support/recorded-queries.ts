import type pg from 'pg';

/**
 * Records the SQL text of every query sent through `pool`'s sessions into `texts`, whether it went
 * by `pool.query` or by a session checked out of the pool (as the client's table queries do, to
 * read rows as they arrive). Every query a session sends goes through its own `query`, so each is
 * recorded once. Call before the pool opens its first session.
 */
export function recordQueries(pool: pg.Pool, texts: string[] = []): string[] {
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      const first = args[0];
      texts.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
      return original(...args);
    };
  });
  return texts;
}

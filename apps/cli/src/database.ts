import pg from 'pg';
import type { DatabaseConfig } from './config.ts';

/** node-postgres settings for one of this run's connections. */
export function clientConfig(config: DatabaseConfig): pg.ClientConfig {
  return {
    connectionString: config.url,
    connectionTimeoutMillis: config.connectTimeoutMs,
    application_name: config.applicationName,
  };
}

/** Runs `fn` on one fresh connection and always closes it, also when connecting fails. */
export async function withClient<T>(
  config: DatabaseConfig,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(clientConfig(config));
  // A server that goes away mid-command emits here; the pending query rejects with the real reason.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

// Shared by every test: real Postgres and Redis from the global setup, a private schema per suite,
// and waiting on conditions with a deadline instead of sleeping.
import { randomBytes } from 'node:crypto';
import { once, type EventEmitter } from 'node:events';
import { parseMessage, type Message, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';

export { tableDigest } from './digest.ts';
export { waitFor } from './wait.ts';

/** URL of the test run's Postgres. */
export const databaseUrl = (): string => inject('databaseUrl');
/** URL of the test run's Redis. */
export const redisUrl = (): string => inject('redisUrl');

/** A short random suffix for schema, channel and namespace names. */
export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(4).toString('hex')}`;

/** A private schema (dropped on dispose) and a pool whose search_path points at it. */
export interface TestSchema extends AsyncDisposable {
  readonly schema: string;
  readonly pool: pg.Pool;
  /** The same database URL with this schema first on the search_path, for child processes. */
  readonly url: string;
}

/** Creates a schema only this suite uses, so suites can run in parallel on one database. */
export async function createTestSchema(prefix = 'psc_test'): Promise<TestSchema> {
  const schema = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const url = withSearchPath(databaseUrl(), schema);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return {
    schema,
    pool,
    url,
    async [Symbol.asyncDispose]() {
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined);
      await pool.end();
    },
  };
}

/** Adds `options=-c search_path=<schema>,public` to a connection URL. */
export function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path="${schema}",public`);
  return parsed.toString();
}

/** Resolves with the next `event` emitted by `emitter`, or rejects after the deadline. */
export async function nextEvent<T extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  timeoutMs = 10_000,
): Promise<T> {
  return (await once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) })) as T;
}

/** The `code` of the `type` error `promise` rejects with; throws if it resolves or rejects otherwise. */
export async function rejectionCode<E extends Error & { readonly code: string }>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E['code']> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error.code;
    throw error;
  }
  throw new Error(`expected a ${type.name}`);
}

/** Every valid message on a namespace's events channel, in arrival order, as an app would see it. */
export interface EventRecorder {
  readonly events: Message[];
  /** Ends the subscription. */
  disconnect(): void;
}

/** Subscribes to `names.events` and resolves once the subscription is in place. */
export async function recordEvents(names: Names): Promise<EventRecorder> {
  const events: Message[] = [];
  const subscriber = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  subscriber.on('message', (_channel: string, text: string) => {
    const parsed = parseMessage(text);
    if (parsed.ok) events.push(parsed.message);
  });
  await subscriber.subscribe(names.events);
  return { events, disconnect: () => subscriber.disconnect() };
}

// Deltas, with real processes (a bridge and its reload worker, `watch --mode snapshot`): a worker's
// `snapshot-delta` takes an app from the snapshot it holds to the next one without reading the
// stored value, every column type parsing as a query's would; a delta that does not build the
// worker's snapshot (forged, here) is caught and the app reloads from Postgres.
import { installTriggers } from '@pg-static-cache/postgres';
import { namesFor, parseSnapshot, serializeMessage } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FAST_BRIDGE_ENV, roleChangedTo } from '../e2e/support/bridges.ts';
import { EVERY_TYPE_SQL } from '../support/fixtures/every-type.ts';
import { createTestSchema, redisUrl, tableDigest, uniqueName } from '../support/index.ts';
import { parseJsonLine, spawnCli, type SpawnedProcess } from '../support/process.ts';

const TABLE = 'everything';

/** The `--events` reload line of `app` that brought `digest`, from stderr line `from` on. */
async function reloadTo(app: SpawnedProcess, digest: string, from: number) {
  const line = await app.waitForLine(
    (l) => {
      const event = parseJsonLine(l);
      return event?.['event'] === 'reload' && event['digest'] === digest;
    },
    { stream: 'stderr', from },
  );
  return parseJsonLine(line);
}

/**
 * A bridge with its worker and one snapshot-mode `watch` app on a fresh `everything` table; with
 * `signingKey`, both sign and verify (PSC_SIGNING_KEY).
 */
async function startWorld(signingKey?: string) {
  const schema = await createTestSchema('psc_delta');
  onTestFinished(() => schema[Symbol.asyncDispose]());
  await schema.pool.query(EVERY_TYPE_SQL);
  const channel = uniqueName('ch');
  await installTriggers(schema.pool, [TABLE], { channel });
  const names = namesFor(uniqueName('delta'));
  const env = {
    DATABASE_URL: schema.url,
    REDIS_URL: redisUrl(),
    PSC_NAMESPACE: names.namespace,
    PSC_CHANNEL: channel,
    ...(signingKey === undefined ? {} : { PSC_SIGNING_KEY: signingKey }),
  };
  const bridge = spawnCli(['bridge'], {
    env: { ...FAST_BRIDGE_ENV, PSC_JOBS: '1', PSC_WORKER: '1', ...env },
  });
  onTestFinished(async () => {
    await bridge.stop();
  });
  await bridge.waitForLine(roleChangedTo('leader'), { stream: 'stderr' });
  const app = spawnCli(['watch', '--mode', 'snapshot', '--events', '--table', TABLE], { env });
  onTestFinished(async () => {
    await app.stop();
  });
  await app.waitForLine((l) => l.includes('"status":"ready"'), { stream: 'stderr' });
  // A delta applies to a stored snapshot the app holds, and the app may have started on rows from
  // Postgres (before the first snapshot was stored): a statement that changes nothing still
  // notifies, and its snapshot is one to hold.
  const from = app.stderrLines.length;
  await schema.pool.query(`UPDATE ${TABLE} SET note = note WHERE false`);
  await app.waitForLine((l) => parseJsonLine(l)?.['source'] === 'snapshot', {
    stream: 'stderr',
    from,
  });
  return { schema, names, app };
}

describe('snapshot mode: deltas', () => {
  it.each([
    ['unsigned', undefined],
    ['signed', 'a-signing-key-of-the-fleet'],
  ])(
    '%s: updates, inserts and deletes reach the app as deltas, each version equal to the table in every column type',
    async (_name, signingKey) => {
      const { schema, app } = await startWorld(signingKey);
      const changes = [
        `UPDATE everything SET amount = amount * 2, doc = doc || '{"c": true}', ints = ints || 4,
         at_tz = at_tz + interval '1 second' WHERE region = 'eu' AND id = 1`,
        `INSERT INTO everything (region, id, note, bytes, span) VALUES ('ap', 1, 'new', '\\x01', '2 days')`,
        `DELETE FROM everything WHERE region = 'us' AND id = 1`,
        `UPDATE everything SET note = 'both', feeling = 'sad' WHERE id = 2`,
      ];
      for (const change of changes) {
        const from = app.stderrLines.length;
        await schema.pool.query(change);
        // tableDigest is SHA-256 of what a plain query returns: equal digests, equal rows.
        const event = await reloadTo(app, await tableDigest(schema.pool, TABLE), from);
        expect(event, change).toMatchObject({ source: 'snapshot', delta: true });
      }
      expect(app.stderrLines.filter((l) => l.includes('"event":"warning"'))).toEqual([]);
    },
  );

  it('a delta that does not build the worker’s snapshot is caught: a warning, then the table from Postgres', async () => {
    const { schema, names, app } = await startWorld();
    const redis = new Redis(redisUrl());
    onTestFinished(() => redis.disconnect());
    const raw = await redis.getBuffer(names.snapshot(`${schema.schema}.${TABLE}`));
    const stored = raw === null ? undefined : parseSnapshot(raw);
    if (stored?.ok !== true) throw new Error('no readable stored snapshot');
    const held = stored.snapshot;
    const first = held.rows[0];
    if (first === undefined) throw new Error('no rows');
    // The first row's note changed: well-formed, and it fits the snapshot the app holds, but the
    // rows it builds are not the ones its digest (any other, here) was computed over.
    const noteAt = held.fields.findIndex((field) => field.name === 'note');
    const forged = first.map((text, i) => (i === noteAt ? 'forged' : text));
    const from = app.stderrLines.length;
    await redis.publish(
      names.events,
      serializeMessage({
        v: 1,
        type: 'snapshot-delta',
        table: held.table,
        oid: held.oid,
        version: held.version + 1,
        generation: held.generation,
        key: names.snapshot(held.table),
        digest: 'f'.repeat(64),
        lsn: held.lsn,
        at: Date.now(),
        worker: 'forger',
        from: held.version,
        fromDigest: held.digest,
        length: held.rows.length,
        removed: [0],
        rows: [[0, forged]],
      }),
    );
    await app.waitForLine((l) => l.includes('built from a delta does not match its digest'), {
      stream: 'stderr',
      from,
    });
    const event = await reloadTo(app, await tableDigest(schema.pool, TABLE), from);
    expect(event).toMatchObject({ source: 'postgres', fallback: 'untrusted' });
  });
});

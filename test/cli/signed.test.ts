// PSC_SIGNING_KEY through the real bin: a bridge that signs, `resync` that must sign its request,
// and `watch --mode snapshot` that verifies what it reads (and a forged snapshot it refuses).
import { digestRows } from '@pg-static-cache/postgres';
import { createSnapshot, parseSnapshot, serializeMessage } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisUrl, tableDigest, waitFor } from '../support/index.ts';
import { runCli } from '../support/process.ts';
import { createWorld, RUN_TIMEOUT_MS, started, TEST_TIMEOUT_MS } from './bridge-world.ts';

const KEY = 'cli-signing-key-0123456789';

describe('signing through the CLI', () => {
  it(
    'a signing bridge answers only signed resyncs, and a verifying watch refuses forged snapshots',
    async () => {
      await using world = await createWorld();
      const bridge = world.spawn(
        ['bridge', ...world.naming, '--bridge-id', 'a', '--http-port', '0', '--log-level', 'warn'],
        { PSC_SIGNING_KEY: KEY },
      );
      expect(await started(bridge)).toMatchObject({ role: 'leader' });
      const resync = (env: Record<string, string>) =>
        runCli(['resync', '--namespace', world.names.namespace, '--timeout-ms', '1500'], {
          env: { ...world.env, ...env },
          timeoutMs: RUN_TIMEOUT_MS,
        });
      // Unsigned, the request is dropped: nobody answers.
      expect((await resync({})).code).toBe(1);
      expect((await resync({ PSC_SIGNING_KEY: KEY })).stdout).toMatch(/^resync published by a/);

      const snapshotKey = world.names.snapshot(`${world.schema.schema}.items`);
      const redis = new Redis(redisUrl());
      try {
        await waitFor('a signed snapshot', async () =>
          Boolean((await redis.get(snapshotKey))?.startsWith('psc1.')),
        );
        const watch = world.spawn(
          ['watch', '--table', 'items', '--mode', 'snapshot', ...world.naming.slice(0, 2)],
          { PSC_SIGNING_KEY: KEY },
        );
        const digests = () => watch.lines.map((l) => (JSON.parse(l) as { digest: string }).digest);
        await world.schema.pool.query(`UPDATE items SET label = 'real' WHERE id = 1`);
        const real = await tableDigest(world.schema.pool, 'items');
        await waitFor('the real change', () => digests().includes(real), 20_000);

        // A forged snapshot with a valid digest, announced: refused, counted in a warning.
        const raw = await redis.getBuffer(snapshotKey);
        const parsed = raw === null ? undefined : parseSnapshot(raw);
        if (parsed?.ok !== true) throw new Error('no stored snapshot');
        const forged = createSnapshot({
          ...parsed.snapshot,
          version: parsed.snapshot.version + 100,
          rows: parsed.snapshot.rows.map((row) => [row[0] ?? null, 'forged']),
        });
        await redis.set(snapshotKey, JSON.stringify(forged));
        await redis.publish(
          world.names.events,
          serializeMessage({
            ...{ v: 1, type: 'snapshot', table: forged.table, oid: forged.oid },
            ...{ version: forged.version, generation: forged.generation, key: snapshotKey },
            ...{ digest: forged.digest, lsn: forged.lsn, at: Date.now(), worker: 'attacker' },
          }),
        );
        await watch.waitForLine((l) => l.includes('dropped a message (unsigned'), {
          stream: 'stderr',
        });
        await world.schema.pool.query(`UPDATE items SET label = 'after' WHERE id = 1`);
        const after = await tableDigest(world.schema.pool, 'items');
        await waitFor('the change after the forgery', () => digests().includes(after), 20_000);
        // What watch would have printed, had it served the forged rows.
        const { rows } = await world.schema.pool.query<{ id: number; label: string }>(
          'SELECT * FROM items ORDER BY id',
        );
        expect(digests()).not.toContain(digestRows(rows.map((r) => ({ ...r, label: 'forged' }))));
      } finally {
        redis.disconnect();
      }
    },
    TEST_TIMEOUT_MS,
  );
});

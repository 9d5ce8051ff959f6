import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';
import { repoRoot } from './index.ts';
import { postgresUrl, startPostgres, stopPostgres, withSession } from './postgres.ts';
import { waitUntil } from './process.ts';
import {
  dropReplicaSlot,
  removeReplica,
  replicaApplyDelay,
  replicaPid,
  setReplicaApplyDelay,
  startReplica,
  stopReplica,
  waitForReplay,
  type ReplicaOptions,
} from './replica.ts';

const DELAY_MS = 1_500;

describe('streaming replica', () => {
  // A primary and a replica of this suite's own: the shared services are never touched.
  const dir = join(repoRoot, '.local', `test-replica-${randomBytes(4).toString('hex')}`);
  const log: string[] = [];
  let options: ReplicaOptions;
  let primary: pg.Client;
  let replicaUrl: string;

  beforeAll(async () => {
    const primaryPort = await freePort();
    await startPostgres({ dir: join(dir, 'primary'), port: primaryPort, log: () => undefined });
    options = {
      dir: join(dir, 'replica'),
      port: await freePort(),
      primaryUrl: postgresUrl(primaryPort),
      log: (line) => log.push(line),
      applyDelayMs: DELAY_MS,
    };
    await startReplica(options);
    replicaUrl = postgresUrl(options.port);
    primary = new pg.Client({ connectionString: options.primaryUrl });
    await primary.connect();
    await primary.query('CREATE TABLE marks (id int PRIMARY KEY)');
  });

  afterAll(async () => {
    await primary.end();
    await removeReplica(options);
    await stopPostgres(join(dir, 'primary'));
    await rm(dir, { recursive: true, force: true });
  });

  const replicaHas = (id: number) =>
    withSession(replicaUrl, async (client) => {
      const { rows } = await client.query('SELECT 1 FROM marks WHERE id = $1', [id]);
      return rows.length === 1;
    });

  /** Inserts `id` on the primary and returns how long the replica took to replay the commit. */
  async function commitAndTimeReplay(id: number): Promise<number> {
    const began = performance.now();
    await primary.query('INSERT INTO marks VALUES ($1)', [id]);
    await waitForReplay(replicaUrl, options.primaryUrl);
    return performance.now() - began;
  }

  it('replays a commit made on the primary no sooner than its delay', async () => {
    expect(await replicaApplyDelay(replicaUrl)).toBe(DELAY_MS);
    const elapsed = await commitAndTimeReplay(1);
    expect(elapsed).toBeGreaterThanOrEqual(DELAY_MS);
    expect(await replicaHas(1)).toBe(true);
  });

  it('takes a new delay while it runs', async () => {
    await setReplicaApplyDelay(replicaUrl, 3_000);
    try {
      expect(await commitAndTimeReplay(2)).toBeGreaterThanOrEqual(3_000);
    } finally {
      await setReplicaApplyDelay(replicaUrl, DELAY_MS);
    }
    await expect(setReplicaApplyDelay(replicaUrl, -1)).rejects.toThrow(RangeError);
  });

  it('survives stop/start and a SIGKILL, catches up on what it missed and keeps its delay', async () => {
    expect((await startReplica(options)).started).toBe(false);

    await stopReplica(options.dir);
    expect(await replicaPid(options.dir)).toBeUndefined();
    await primary.query('INSERT INTO marks VALUES (3)');
    // Without a delay: the replica keeps the one it has.
    const withoutDelay = {
      dir: options.dir,
      port: options.port,
      primaryUrl: options.primaryUrl,
      log: options.log,
    };
    expect((await startReplica(withoutDelay)).started).toBe(true);
    expect(await replicaApplyDelay(replicaUrl)).toBe(DELAY_MS);
    expect(await commitAndTimeReplay(4)).toBeGreaterThanOrEqual(DELAY_MS);
    expect(await replicaHas(3)).toBe(true);

    // A crash leaves postmaster.pid behind; the next start must take it for stale.
    process.kill((await replicaPid(options.dir)) ?? 0, 'SIGKILL');
    await waitUntil(
      'the killed replica to be gone',
      async () => (await replicaPid(options.dir)) === undefined,
      10_000,
    );
    await primary.query('INSERT INTO marks VALUES (5)');
    expect((await startReplica(withoutDelay)).started).toBe(true);
    await commitAndTimeReplay(6);
    expect(await replicaHas(5)).toBe(true);
  });

  it('is made anew from the primary when its slot is gone (it could never catch up)', async () => {
    await stopReplica(options.dir);
    await dropReplicaSlot(options.primaryUrl, options.port);
    log.length = 0;
    expect((await startReplica(options)).started).toBe(true);
    expect(log.filter((line) => line.includes('rebuilding'))).toHaveLength(1);
    expect(await commitAndTimeReplay(7)).toBeGreaterThanOrEqual(DELAY_MS);
    expect(await replicaHas(7)).toBe(true);
  });
});

// Bull Board on `pg-static-cache bridge --region b=URL`, through real HTTP requests: the board
// lists region b's reload queue beside home's, labelled with its region and counted from region
// b's own Redis, where region b's worker takes the leader's jobs. As for home's queue, it is
// read-only without PSC_BOARD_PASSWORD, and with it a change needs the credentials and the board's
// origin. Region b's Redis hung (CLIENT PAUSE) or stopped leaves the board answering with home's
// queue, and the leader ready; back, region b is listed again.
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorld, started, TEST_TIMEOUT_MS, type World } from '../cli/bridge-world.ts';
import { startPrivateRedis } from '../support/fixtures/private-redis.ts';
import { basicAuthorization, httpRequest } from '../support/http.ts';
import { waitFor } from '../support/index.ts';

/** How long a page of the board may take while a region's Redis does not answer (its wait is 1 s). */
const ANSWER_MS = 3_000;
/** Long enough to see the board answer without region b, short enough to wait out. */
const PAUSE_MS = 4_000;

const boardQueueSchema = z.object({
  name: z.string(),
  displayName: z.string().optional(),
  readOnlyMode: z.boolean(),
  counts: z.record(z.string(), z.number()),
  jobs: z.array(z.object({ data: z.object({ table: z.string(), at: z.number() }) })),
});
const boardSchema = z.object({ queues: z.array(boardQueueSchema) });
type BoardQueue = z.infer<typeof boardQueueSchema>;

/** The board's API of a bridge at `http`: its queues, and how long the answer took. */
async function readBoard(http: string, query = '') {
  const before = performance.now();
  const answer = await httpRequest(`${http}/queues/api/queues${query}`);
  const ms = performance.now() - before;
  if (answer.status !== 200) return { status: answer.status, ms, queues: [] };
  return { status: answer.status, ms, queues: boardSchema.parse(JSON.parse(answer.text)).queues };
}

/** Region b's reload queue as the test reads it straight from region b's Redis; closed on dispose. */
function regionQueue(world: World, url: string) {
  const connection = new Redis(url, { maxRetriesPerRequest: 1 });
  connection.on('error', () => undefined);
  const queue = new Queue(world.names.queue, { connection });
  queue.on('error', () => undefined);
  return {
    queue,
    async [Symbol.asyncDispose]() {
      await queue.close().catch(() => undefined);
      connection.disconnect();
    },
  };
}

const idle = (q: BoardQueue): boolean =>
  (q.counts['waiting'] ?? 0) + (q.counts['active'] ?? 0) + (q.counts['delayed'] ?? 0) === 0;

describe('Bull Board with regions', () => {
  it(
    "lists each region's reload queue from its own Redis, read-only, and survives the region's Redis hanging or down",
    async () => {
      await using world = await createWorld();
      await using regionB = await startPrivateRedis();
      // The home worker runs in the bridge; region b's is a process of its own on b's Redis.
      const bridge = world.spawnBridge('leader', '--region', `b=${regionB.url}`);
      const worker = world.spawn(
        ['worker', '--namespace', world.names.namespace, '--http-port', '0', '--log-level', 'warn'],
        { REDIS_URL: regionB.url },
      );
      const [{ http, role }] = await Promise.all([started(bridge), started(worker)]);
      expect(role).toBe('leader');
      await using direct = regionQueue(world, regionB.url);
      const home = world.names.queue;
      const b = `b.${world.names.queue}`;
      const queueOf = (queues: readonly BoardQueue[], name: string) =>
        queues.find((q) => q.name === name);

      // The leader's first resync gave every region a job for every table: wait until b's worker
      // ran it, so the commit below makes a job of its own (a waiting one would absorb it).
      let before: BoardQueue | undefined;
      await waitFor(
        "region b's queue to be listed, idle, with the takeover's job done",
        async () => {
          before = queueOf((await readBoard(http)).queues, b);
          return before !== undefined && idle(before) && (before.counts['completed'] ?? 0) > 0;
        },
      );
      const board = await readBoard(http);
      expect(board.queues.map((q) => [q.name, q.displayName, q.readOnlyMode])).toEqual([
        [home, undefined, true],
        [b, `${home} (region b)`, true],
      ]);
      // Counted in region b's Redis, not home's.
      expect(queueOf(board.queues, b)?.counts).toMatchObject(await direct.queue.getJobCounts());

      const committedAt = Date.now();
      await world.schema.pool.query(`UPDATE items SET label = 'board' WHERE id = 1`);
      const done = `?activeQueue=${encodeURIComponent(b)}&status=completed`;
      await waitFor("the commit's job to be done in region b", async () => {
        const now = queueOf((await readBoard(http, done)).queues, b);
        return (
          now !== undefined &&
          (now.counts['completed'] ?? 0) > (before?.counts['completed'] ?? 0) &&
          now.jobs.some(
            (job) =>
              job.data.table === `${world.schema.schema}.items` && job.data.at >= committedAt,
          )
        );
      });

      // Read-only without a password, as home's queue is: nothing that changes region b's queue.
      const q = `/queues/api/queues/${encodeURIComponent(b)}`;
      for (const [method, path] of [
        ['PUT', `${q}/pause`],
        ['PUT', `${q}/empty`],
        ['PUT', `${q}/obliterate`],
        ['POST', `${q}/add`],
      ] as const) {
        const answer = await httpRequest(`${http}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x', data: {} }),
        });
        expect({ method, path, status: answer.status }).toEqual({ method, path, status: 403 });
      }
      expect(await direct.queue.isPaused()).toBe(false);

      // Region b's Redis hangs (every command waits), then is stopped: the board answers with
      // home's queue alone, in time, and the leader stays ready.
      const homeOnly = async (what: string) => {
        const answer = await readBoard(http);
        expect({ what, status: answer.status }).toEqual({ what, status: 200 });
        expect(answer.queues.map((q) => q.name)).toEqual([home]);
        expect(answer.ms).toBeLessThan(ANSWER_MS);
        expect((await httpRequest(`${http}/readyz`)).status).toBe(200);
      };
      const admin = new Redis(regionB.url, { maxRetriesPerRequest: 1 });
      try {
        await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
      } finally {
        admin.disconnect();
      }
      const pausedAt = performance.now();
      await homeOnly('hung');
      expect(performance.now() - pausedAt).toBeLessThan(PAUSE_MS);
      await waitFor('region b to be listed again once its Redis answers', async () => {
        return queueOf((await readBoard(http)).queues, b) !== undefined;
      });
      await regionB.stop();
      await homeOnly('down');
      await regionB.start();
      await waitFor('region b to be listed again once its Redis is back', async () => {
        return queueOf((await readBoard(http)).queues, b) !== undefined;
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "with PSC_BOARD_PASSWORD: region b's queue is paused only with the credentials, in b's Redis",
    async () => {
      await using world = await createWorld();
      await using regionB = await startPrivateRedis();
      const bridge = world.spawn(
        world.bridgeArgs('guarded', '--region', `b=${regionB.url}`, '--no-worker'),
        { PSC_BOARD_PASSWORD: 's3cret', PSC_BOARD_USER: 'ops' },
      );
      const { http } = await started(bridge);
      await using direct = regionQueue(world, regionB.url);
      const b = `b.${world.names.queue}`;
      await waitFor("region b's queue to be listed", async () => {
        const answer = await httpRequest(`${http}/queues/api/queues`, {
          headers: { authorization: basicAuthorization('ops', 's3cret') },
        });
        return answer.status === 200 && answer.text.includes(`"${b}"`);
      });
      const pause = `${http}/queues/api/queues/${encodeURIComponent(b)}/pause`;
      const authorization = basicAuthorization('ops', 's3cret');
      const attempt = (headers: Record<string, string>) =>
        httpRequest(pause, { method: 'PUT', headers });

      expect((await attempt({})).status).toBe(401);
      expect((await attempt({ authorization, origin: 'http://evil.example' })).status).toBe(403);
      expect(await direct.queue.isPaused()).toBe(false);
      expect((await attempt({ authorization, origin: http })).status).toBe(200);
      expect(await direct.queue.isPaused()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

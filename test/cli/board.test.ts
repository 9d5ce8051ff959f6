// Bull Board on `pg-static-cache bridge`, through real HTTP requests. Before, anyone who reached the
// port could pause or empty the reload queue, and any Host name was answered (DNS rebinding).
// Without PSC_BOARD_PASSWORD the board is now read-only and loopback-only; with it, changes need
// basic auth and the board's own origin; a Host name not allowed is refused either way.
import { networkInterfaces } from 'node:os';
import { RELOAD_JOB } from '@pg-static-cache/bridge';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisUrl } from '../support/index.ts';
import { basicAuthorization, httpRequest } from '../support/http.ts';
import { createWorld, started, TEST_TIMEOUT_MS, type World } from './bridge-world.ts';

// Every request of the board that changes a queue or a job (@bull-board/api 9.10.1's routes).
function changingRequests(queue: string, jobId: string): [string, string][] {
  const q = `/queues/api/queues/${encodeURIComponent(queue)}`;
  return [
    ['PUT', '/queues/api/queues/pause'],
    ['PUT', `${q}/pause`],
    ['PUT', `${q}/empty`],
    ['PUT', `${q}/retry/failed`],
    ['PUT', `${q}/clean/completed`],
    ['PUT', `${q}/promote`],
    ['PUT', `${q}/obliterate`],
    ['POST', `${q}/add`],
    ['PUT', `${q}/${jobId}/clean`],
    ['PUT', `${q}/${jobId}/promote`],
    ['PATCH', `${q}/${jobId}/update-data`],
  ];
}

// The address of this machine that is not loopback: a peer connecting to it is "remote".
function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
  if (address === undefined) throw new Error('this test needs a non-loopback IPv4 address');
  return address;
}

/** The world's reload queue as the test sees it, with one waiting job; closed on dispose. */
async function queueWithJob(world: World) {
  const connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const queue = new Queue(world.names.queue, { connection });
  const job = await queue.add(RELOAD_JOB, { table: 'x.items', oid: 1, lsn: '0/0', at: 1 });
  return {
    queue,
    jobId: job.id ?? '',
    async [Symbol.asyncDispose]() {
      await queue.close();
      connection.disconnect();
    },
  };
}

describe('Bull Board on pg-static-cache bridge', () => {
  it(
    'without PSC_BOARD_PASSWORD: reads work, every change is refused, only loopback and allowed Host names',
    async () => {
      await using world = await createWorld();
      await using q = await queueWithJob(world);
      // Bound to every address, to show that a remote peer is refused even then.
      const bridge = world.spawnBridge('open', '--no-worker', '--http-host', '0.0.0.0');
      const { http } = await started(bridge);
      const port = new URL(http).port;
      const local = `http://127.0.0.1:${port}`;
      const host = `localhost:${port}`;

      const page = await httpRequest(`${local}/queues/`, { headers: { host } });
      expect(page.status).toBe(200);
      const api = await httpRequest(`${local}/queues/api/queues`, { headers: { host } });
      expect(api.status).toBe(200);
      expect(api.text).toContain(world.names.queue);

      for (const [method, path] of changingRequests(world.names.queue, q.jobId)) {
        const answer = await httpRequest(`${local}${path}`, {
          method,
          headers: { host, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x', data: {} }),
        });
        expect({ method, path, status: answer.status }).toEqual({ method, path, status: 403 });
      }
      expect(await q.queue.isPaused()).toBe(false);
      // Not emptied, obliterated, removed, promoted or edited (the leader's own jobs come and go).
      const job = await q.queue.getJob(q.jobId);
      expect(await job?.getState()).toBe('waiting');
      expect(job?.data).toEqual({ table: 'x.items', oid: 1, lsn: '0/0', at: 1 });

      // DNS rebinding: an attacker's name pointed at 127.0.0.1.
      for (const evil of ['evil.example', `evil.example:${port}`, 'localhost.evil.example']) {
        const answer = await httpRequest(`${local}/queues/`, { headers: { host: evil } });
        expect({ evil, status: answer.status }).toEqual({ evil, status: 403 });
      }
      for (const name of [`127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
        const answer = await httpRequest(`${local}/queues/api/queues`, { headers: { host: name } });
        expect({ name, status: answer.status }).toEqual({ name, status: 200 });
      }

      // A peer that is not on this machine gets no board, but probes still get health.
      const remote = `http://${externalAddress()}:${port}`;
      const refused = await httpRequest(`${remote}/queues/`, { headers: { host } });
      expect(refused.status).toBe(403);
      expect(refused.text).toMatch(/answers only on localhost/);
      expect((await httpRequest(`${remote}/healthz`)).status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'with PSC_BOARD_PASSWORD: pause needs the credentials, the own origin and an allowed Host',
    async () => {
      await using world = await createWorld();
      await using q = await queueWithJob(world);
      const bridge = world.spawn(world.bridgeArgs('guarded', '--no-worker'), {
        PSC_BOARD_PASSWORD: 's3cret',
        PSC_BOARD_USER: 'ops',
      });
      const { http } = await started(bridge);
      const pause = `${http}/queues/api/queues/${encodeURIComponent(world.names.queue)}/pause`;
      const authorization = basicAuthorization('ops', 's3cret');
      const attempt = (headers: Record<string, string>) =>
        httpRequest(pause, { method: 'PUT', headers });

      expect((await attempt({})).status).toBe(401);
      expect((await attempt({ authorization: basicAuthorization('ops', 'guess') })).status).toBe(
        401,
      );
      expect((await attempt({ authorization, origin: 'http://evil.example' })).status).toBe(403);
      expect((await attempt({ authorization, host: 'evil.example' })).status).toBe(403);
      expect(await q.queue.isPaused()).toBe(false);

      const paused = await attempt({ authorization, origin: http });
      expect(paused.status).toBe(200);
      expect(await q.queue.isPaused()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});

// `bridge`, `status`, `resync` and `watch --mode redis` through the real bin, against bridges run
// as `pg-static-cache bridge` processes: one namespace, channel and schema per test.
import { describe, expect, it } from 'vitest';
import { tableDigest, waitFor } from '../support/index.ts';
import { runCli, spawnCli } from '../support/process.ts';
import {
  createWorld,
  RUN_TIMEOUT_MS,
  START_TIMEOUT_MS,
  started,
  TEST_TIMEOUT_MS,
} from './bridge-world.ts';

describe('bridge, status and resync', () => {
  it(
    'two bridges: one leads, status sees both, resync reaches clients, SIGTERM exits 0',
    async () => {
      await using world = await createWorld();
      const a = world.spawnBridge('a');
      expect(await started(a)).toMatchObject({ bridge: 'a', role: 'leader' });
      const line = await a.waitForLine((l) => l.includes('"event":"term"'));
      expect(JSON.parse(line)).toMatchObject({ bridge: 'a', reason: 'takeover' });
      const b = world.spawnBridge('b');
      expect(await started(b)).toMatchObject({
        bridge: 'b',
        role: 'standby',
        http: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as string,
      });

      // b announces itself on its first poll, before `started`; a on its term's first heartbeat.
      const table = `${world.schema.schema}.items`;
      const status = await world.status(...world.naming);
      expect(status.code).toBe(0);
      expect(status.json).toMatchObject({
        ok: true,
        leader: { bridge: 'a', epoch: expect.any(Number) as number },
        triggers: 'live',
        tables: [{ table, state: 'ok', ok: true }],
      });
      expect(status.json.bridges).toContainEqual(
        expect.objectContaining({ bridge: 'b', role: 'standby' }),
      );
      expect(status.json.term?.epoch).toBe(status.json.leader?.epoch);
      // Without the naming flags, status checks the triggers under the names the leader recorded.
      const unflagged = await world.status('--namespace', world.names.namespace);
      expect(unflagged.json).toMatchObject({ ok: true, tables: [{ table, state: 'ok' }] });
      const epoch = status.json.leader?.epoch;

      const resync = await runCli(['resync', '--namespace', world.names.namespace], {
        env: world.env,
        timeoutMs: RUN_TIMEOUT_MS,
      });
      expect(resync).toMatchObject({ code: 0, stderr: '' });
      expect(resync.stdout).toBe(`resync published by a (epoch ${epoch}): all tables\n`);
      await waitFor('the manual resync on the events channel', () =>
        world.events.some((m) => m.type === 'resync' && m.reason === 'manual' && m.bridge === 'a'),
      );

      // A trigger switched off is seen by the live check at once; the leader's record is older.
      await world.schema.pool.query(`ALTER TABLE items DISABLE TRIGGER ALL`);
      const disabled = await world.status(...world.naming);
      expect(disabled.code).toBe(1);
      expect(disabled.json).toMatchObject({ ok: false, tables: [{ table, state: 'disabled' }] });
      const recorded = await runCli(['status', '--namespace', world.names.namespace], {
        env: { ...world.env, DATABASE_URL: undefined },
        timeoutMs: RUN_TIMEOUT_MS,
      });
      expect(recorded).toMatchObject({ code: 0, stderr: '' });
      expect(recorded.stdout).toMatch(/^leader: +a \(epoch \d+, lease renewed [\d.]+ s ago\)$/m);
      expect(recorded.stdout).toMatch(/^standbys: +b \(seen [\d.]+ s ago\)$/m);
      expect(recorded.stdout).toMatch(/^triggers: +as the leader recorded$/m);
      // SNAPSHOT: the bridges' workers may or may not have stored one yet (status.test.ts checks it).
      expect(recorded.stdout).toMatch(
        new RegExp(`^${table.replace('.', '\\.')} +ok +- +(?:v\\d+|-)$`, 'm'),
      );
      expect(recorded.stdout).toMatch(/^status: ok$/m);

      for (const proc of [a, b])
        expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      const after = await world.status();
      expect(after).toMatchObject({ code: 1, json: { ok: false, leader: null, bridges: [] } });
    },
    TEST_TIMEOUT_MS,
  );

  // Redis mode needs only the messages; snapshot mode also needs the reload jobs and their worker.
  it.each([
    ['redis', ['--no-jobs', '--no-worker']],
    ['snapshot', []],
  ])(
    'watch --mode %s prints the table digest, then a new line after an UPDATE',
    async (mode, bridgeFlags) => {
      await using world = await createWorld();
      const bridge = world.spawnBridge('w', ...bridgeFlags);
      expect(await started(bridge)).toMatchObject({ role: 'leader' });
      const args = [
        'watch',
        '--mode',
        mode,
        '--table',
        'items',
        '--namespace',
        world.names.namespace,
      ];
      await using watch = spawnCli(args, { env: world.env });
      const firstLine = await watch.waitForLine(() => true, { timeoutMs: START_TIMEOUT_MS });
      const first = JSON.parse(firstLine) as unknown;
      expect(first).toMatchObject({
        table: `${world.schema.schema}.items`,
        rows: 2,
        version: 1,
        digest: await tableDigest(world.schema.pool, 'items'),
      });
      await watch.waitForLine((l) => l.includes('"status":"ready"'), { stream: 'stderr' });

      const from = watch.lines.length;
      await world.schema.pool.query(`UPDATE items SET label = 'changed' WHERE id = 2`);
      const digest = await tableDigest(world.schema.pool, 'items');
      await watch.waitForLine((l) => (JSON.parse(l) as { digest: string }).digest === digest, {
        from,
      });
      expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    },
    TEST_TIMEOUT_MS,
  );
});

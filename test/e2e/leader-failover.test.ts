// A leader bridge dies or freezes while app processes in redis mode follow it: a standby leads,
// and every cache of every app ends equal to the database.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { roleChangedTo } from './support/bridges.ts';
import { reloadReasons } from './support/convergence.ts';
import { newTermAfter } from './support/event-log.ts';
import { recordMs } from './support/measured.ts';
import { startScenario } from './support/scenario.ts';
import { burst, startTraffic } from './support/tables.ts';

describe('e2e: the leader bridge fails', () => {
  it('SIGKILL mid-traffic: a standby leads and every app converges within 3 s', async ({
    task,
  }) => {
    await using s = await startScenario({ prefix: 'e2e_kill', bridges: 3 });
    const old = s.leader;
    const traffic = startTraffic(s.tables, 20);
    await s.events.waitFor(
      'invalidates of the traffic',
      (m) => m.type === 'invalidate' && m.epoch === old.lease.epoch && m.seq >= 5,
    );

    const marks = s.apps.map((app) => app.events.length);
    const killedAt = performance.now();
    old.proc.child.kill('SIGKILL');
    await traffic.stop();
    // Only the next leader can bring this one to the apps.
    await s.tables.changeAll();
    await s.converged(10_000);
    const elapsed = performance.now() - killedAt;

    const takeover = await s.events.waitFor('the takeover', newTermAfter(old.lease.epoch));
    expect(takeover.message.bridge).not.toBe(old.id);
    expect(takeover.message.type === 'resync' && takeover.message.reason).toBe('takeover');
    recordMs(task, 'killToConverged', elapsed);
    expect(elapsed).toBeLessThan(3_000);
    // Each app got there through the new term's resync.
    s.apps.forEach((app, index) => expect(reloadReasons(app, marks[index])).toContain('resync'));
    // Exactly one standby won; nothing more was heard from the dead one.
    const after = s.events.since(s.events.entries.indexOf(takeover));
    expect(new Set(after.map((m) => m.bridge))).toEqual(new Set([takeover.message.bridge]));
    expect((await old.proc.exit).signal).toBe('SIGKILL');
  });

  it('SIGSTOP: a standby fences the frozen leader, which never speaks as leader again', async ({
    task,
  }) => {
    await using s = await startScenario({ prefix: 'e2e_freeze' });
    const old = s.leader;
    try {
      const frozenAt = performance.now();
      old.proc.child.kill('SIGSTOP');
      await s.tables.changeAll();
      const takeover = await s.events.waitFor('a takeover', newTermAfter(old.lease.epoch), {
        timeoutMs: 10_000,
      });
      recordMs(task, 'freezeToTakeover', takeover.at - frozenAt);
      expect(takeover.at - frozenAt).toBeLessThan(10_000);
      expect(takeover.message.bridge).not.toBe(old.id);
      // Fenced, not lucky: the frozen leader's LISTEN backend was terminated.
      const backend = await s.tables.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [
        old.lease.backendPid,
      ]);
      expect(backend.rowCount).toBe(0);
      await s.tables.changeAll();
      // Commits made while the old leader is still frozen reach every app.
      await s.converged();

      const stderrMark = old.proc.stderrLines.length;
      old.proc.child.kill('SIGCONT');
      await old.proc.waitForLine(roleChangedTo('standby'), {
        stream: 'stderr',
        from: stderrMark,
        timeoutMs: 10_000,
      });
      await s.tables.changeAll();
      await s.converged();
      const fromTakeover = s.events.entries.indexOf(takeover);
      expect(s.events.since(fromTakeover, (m) => m.bridge === old.id)).toEqual([]);
      expect((await s.bridges.lease())?.bridge).toBe(takeover.message.bridge);
    } finally {
      old.proc.child.kill('SIGCONT');
      await old.proc.stop('SIGKILL');
    }
  });

  it('a burst of 2,000 commits from 4 sessions with a SIGKILL failover in the middle', async ({
    task,
  }) => {
    await using s = await startScenario({ prefix: 'e2e_burst', bridges: 3 });
    const old = s.leader;
    // Index in the event log at the kill.
    let killedAt = -1;
    const startedAt = performance.now();
    await burst(s.tables, {
      commits: 2_000,
      connections: 4,
      onCommitted: (n) => {
        if (n !== 1_000) return;
        killedAt = s.events.entries.length;
        old.proc.child.kill('SIGKILL');
      },
    });
    const committedAt = performance.now();
    await s.converged(30_000);
    recordMs(task, 'burst', committedAt - startedAt);
    recordMs(task, 'lastCommitToConverged', performance.now() - committedAt);
    expect(killedAt).toBeGreaterThanOrEqual(0);
    const takeover = await s.events.waitFor('the takeover', newTermAfter(old.lease.epoch));
    expect(takeover.message.bridge).not.toBe(old.id);
    // The old leader was announcing the burst when it died.
    const before = s.events.entries.slice(0, killedAt).map((e) => e.message);
    expect(before.filter((m) => m.type === 'invalidate').length).toBeGreaterThan(0);
  });
});

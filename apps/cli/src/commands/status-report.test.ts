import type { TriggerReport } from '@pg-static-cache/postgres';
import { namesFor } from '@pg-static-cache/protocol';
import { describe, expect, it } from 'vitest';
import { formatAge } from './status.ts';
import {
  buildStatusReport,
  recordedRegions,
  recordedTables,
  withLiveTriggers,
} from './status-report.ts';

const names = namesFor('t');
const NOW = 1_000_000;

describe('status report', () => {
  it('reads malformed Redis values as absent instead of failing', () => {
    const report = buildStatusReport(
      names,
      {
        lease: '{"bridge":"a"}',
        bridges: { a: 'not json', b: '[1]', c: '{"role":"standby"}', d: '{"lastSeenAt":1}' },
        status: { epoch: 'x', lastHeartbeatAt: '', tables: '{' },
      },
      { source: 'recorded', list: recordedTables({ tables: '{' }) },
      NOW,
    );
    expect(report).toMatchObject({
      ok: false,
      problems: ['no leader holds the lease'],
      leader: null,
      bridges: [],
      tables: [],
    });
    expect(report.term).toMatchObject({ epoch: null, lastHeartbeatAt: null, heartbeatAgeMs: null });
    expect(
      recordedTables({ tables: '[null, 1, {"table":"s.t"}, {"table":"s.u","state":"ok"}]' }),
    ).toEqual([{ table: 's.u', state: 'ok', ok: false, drifted: null }]);
    expect(recordedRegions({ regions: '{' })).toEqual([]);
    expect(
      recordedRegions({
        regions: '[null, {"region":"b"}, {"region":"c","state":"ok","queued":"x","owesResync":1}]',
      }),
    ).toEqual([
      {
        region: 'c',
        state: 'ok',
        lastPublishAt: null,
        failingSince: null,
        reason: null,
        queued: null,
        owesResync: false,
      },
    ]);
  });

  it('ok needs a lease and every table ok; a recorded table the live check misses is missing', () => {
    const lease = JSON.stringify({ bridge: 'a', epoch: 2, backendPid: 9, renewedAt: NOW - 10 });
    const recorded = recordedTables({
      tables: JSON.stringify([
        { table: 's.a', state: 'ok', ok: true },
        { table: 's.b', state: 'ok', ok: true },
      ]),
    });
    const live = [{ table: 's.a', state: 'ok', ok: true } as TriggerReport];
    const state = { lease, bridges: {}, status: {} };
    const okReport = buildStatusReport(names, state, { source: 'recorded', list: recorded }, NOW);
    expect(okReport).toMatchObject({ ok: true, leader: { bridge: 'a', leaseAgeMs: 10 } });
    const tables = withLiveTriggers(recorded, live);
    expect(tables.map((t) => t.state)).toEqual(['ok', 'missing']);
    expect(buildStatusReport(names, state, { source: 'live', list: tables }, NOW).ok).toBe(false);
    expect(withLiveTriggers([], live)).toEqual([
      { table: 's.a', state: 'ok', ok: true, drifted: null },
    ]);
  });

  it('a leader whose heartbeats stopped, or a paused reload queue, is a problem', () => {
    const lease = JSON.stringify({ bridge: 'a', epoch: 2, backendPid: 9, renewedAt: NOW - 10 });
    const at = (ago: number) => ({ heartbeatMs: '2000', lastHeartbeatAt: String(NOW - ago) });
    const report = (status: Record<string, string>, paused = false) =>
      buildStatusReport(
        names,
        { lease, bridges: {}, status },
        { source: 'recorded', list: [] },
        NOW,
        { paused, waiting: 0, active: 0, delayed: 0, failed: 0 },
      );
    expect(report(at(9_000)).problems).toEqual([]);
    // Three heartbeats, but never under 10 s (clock skew between hosts).
    expect(report(at(10_001)).problems).toEqual([
      'no heartbeat published for 10 s (every 2000 ms expected): publishes failing',
    ]);
    expect(report({ ...at(60_000), heartbeatMs: '' }).problems).toEqual([]);
    expect(report(at(0), true)).toMatchObject({
      ok: false,
      problems: ['the reload queue is paused: no snapshot is stored until it is resumed'],
    });
  });

  it('formats ages for people', () => {
    expect([null, 1234, 42_400, 600_000, 36_000_000].map(formatAge)).toEqual([
      'never',
      '1.2 s ago',
      '42 s ago',
      '10 min ago',
      '10 h ago',
    ]);
  });
});

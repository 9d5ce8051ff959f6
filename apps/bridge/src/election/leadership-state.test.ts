import { describe, expect, it } from 'vitest';
import { LeadershipStatus, roleOf, type LeadershipState } from './leadership-state.ts';
import { BridgeMetrics } from '../ops/metrics.ts';
import { bridgeReadiness, type TermView } from './readiness.ts';
import { TermHealth } from './term-health.ts';

const T0 = Date.now();

function termOf(epoch: number): TermView {
  return { epoch, health: new TermHealth(new BridgeMetrics(), 6_000, T0) };
}

/** Every state change of `status`, as `previous → next` kinds. */
function record(status: LeadershipStatus<TermView>): string[] {
  const changes: string[] = [];
  status.on('state', (next, previous) => changes.push(`${previous.kind} → ${next.kind}`));
  return changes;
}

describe('LeadershipStatus', () => {
  it('moves through the election in one setState, one event per change, stopped last', () => {
    const status = new LeadershipStatus<TermView>();
    const changes = record(status);
    const first = termOf(7);
    expect(status.state).toEqual({ kind: 'standby' });
    status.setState({ kind: 'acquiring' });
    status.setState({ kind: 'leading-without-term', backendPid: 42 });
    status.setState({ kind: 'leading-without-term', backendPid: 42 });
    status.setState({ kind: 'leading', term: first, reason: 'takeover' });
    status.setState({ kind: 'leading', term: first, reason: 'takeover' });
    expect(status.term).toBe(first);
    // The LISTEN session is lost and comes back: a new term on the same lock.
    status.setState({ kind: 'leading-without-term', backendPid: 42 });
    expect(status.term).toBeUndefined();
    status.setState({ kind: 'leading', term: termOf(8), reason: 'reconnect' });
    status.setState({ kind: 'standby' });
    status.setState({ kind: 'stopped' });
    status.setState({ kind: 'acquiring' });
    expect(status.state).toEqual({ kind: 'stopped' });
    expect(changes).toEqual([
      'standby → acquiring',
      'acquiring → leading-without-term',
      'leading-without-term → leading',
      'leading → leading-without-term',
      'leading-without-term → leading',
      'leading → standby',
      'standby → stopped',
    ]);
  });

  it('shows a leader as leader with or without a term, and acquiring as standby', () => {
    const states: LeadershipState<TermView>[] = [
      { kind: 'standby' },
      { kind: 'acquiring' },
      { kind: 'leading-without-term', backendPid: 1 },
      { kind: 'leading', term: termOf(1), reason: 'takeover' },
      { kind: 'stopped' },
    ];
    expect(states.map(roleOf)).toEqual(['standby', 'standby', 'leader', 'leader', 'stopped']);
  });
});

describe('bridgeReadiness', () => {
  const reachable = { postgres: true, redis: true };
  const ready = (state: LeadershipState<TermView>, listen?: 'ready' | 'reconnecting') =>
    bridgeReadiness({ state, bridge: 'b1', listen, standby: reachable });

  it('is ready only while leading with a term whose publishes go through', () => {
    const term = termOf(5);
    expect(ready({ kind: 'leading', term, reason: 'takeover' }, 'ready')).toEqual({
      ready: true,
      body: { role: 'leader', epoch: 5, bridge: 'b1', listen: 'ready', lastPublishAt: null },
    });
    const health = new TermHealth(new BridgeMetrics(), 6_000, T0);
    health.publishFenced('lease-absent', T0);
    const failing: TermView = { epoch: 6, health };
    const refused = ready({ kind: 'leading', term: failing, reason: 'reconnect' }, 'ready');
    expect(refused.ready).toBe(false);
    expect(refused.body['reason']).toMatch(/^publishes failing since .*: the lease is missing$/);
  });

  it('names the leader without a term, and its LISTEN session when that is down', () => {
    const noTerm = ready({ kind: 'leading-without-term', backendPid: 9 }, 'ready');
    expect(noTerm).toEqual({
      ready: false,
      body: {
        role: 'leader',
        epoch: null,
        bridge: 'b1',
        listen: 'ready',
        lastPublishAt: null,
        reason: 'no leadership term yet (Redis not answering?)',
      },
    });
    const lost = ready({ kind: 'leading-without-term', backendPid: 9 }, 'reconnecting');
    expect(lost.body['reason']).toBe('LISTEN session reconnecting');
    expect(ready({ kind: 'leading-without-term', backendPid: 9 }).body['reason']).toBe(
      'no LISTEN session',
    );
  });

  it('judges a standby (and one acquiring the lock) by what its last poll reached', () => {
    for (const state of [{ kind: 'standby' }, { kind: 'acquiring' }] as const) {
      expect(ready(state)).toEqual({
        ready: true,
        body: { role: 'standby', epoch: null, bridge: 'b1', listen: null, ...reachable },
      });
      const cut = bridgeReadiness({
        state,
        bridge: 'b1',
        listen: undefined,
        standby: { postgres: true, redis: false },
      });
      expect(cut.ready).toBe(false);
      expect(cut.body['reason']).toBe('cannot reach Redis');
    }
    expect(ready({ kind: 'stopped' })).toEqual({
      ready: false,
      body: { role: 'stopped', epoch: null, bridge: 'b1', listen: null, reason: 'stopped' },
    });
  });
});

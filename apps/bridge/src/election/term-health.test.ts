import { describe, expect, it } from 'vitest';
import { BridgeMetrics } from '../ops/metrics.ts';
import { TermHealth } from './term-health.ts';

const T0 = Date.UTC(2025, 0, 1, 12);

function replyError(message: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  return error;
}

async function series(metrics: BridgeMetrics, name: string): Promise<number> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.slice(name.length + 1));
}

describe('TermHealth', () => {
  it('reports a failing streak from its first failure until a success, then nothing', async () => {
    const metrics = new BridgeMetrics();
    const health = new TermHealth(metrics, 6_000, T0);
    expect(health.report(T0 + 100)).toEqual({ problem: undefined, lastPublishAt: null });
    health.published(T0 + 200);
    health.publishFailed(replyError('OOM command not allowed\nmore'), T0 + 1_000);
    health.publishFailed(new Error('Connection is closed.'), T0 + 2_000);
    expect(health.report(T0 + 2_500).problem).toBe(
      'publishes failing since 2025-01-01T12:00:01.000Z: Redis unreachable: Connection is closed.',
    );
    health.published(T0 + 3_000);
    expect(health.report(T0 + 3_100)).toEqual({ problem: undefined, lastPublishAt: T0 + 3_000 });
    expect(await series(metrics, 'psc_bridge_publish_failures_total{reason="refused"}')).toBe(1);
    expect(await series(metrics, 'psc_bridge_publish_failures_total{reason="unreachable"}')).toBe(
      1,
    );
    expect(await series(metrics, 'psc_bridge_last_publish_timestamp_seconds')).toBe(
      (T0 + 3_000) / 1000,
    );
  });

  it('reports renewals that fail, fenced publishes, and a Redis that does not answer at all', () => {
    const metrics = new BridgeMetrics();
    const health = new TermHealth(metrics, 6_000, T0);
    health.renewFailed(replyError("READONLY You can't write against a read only replica."), T0);
    expect(health.report(T0).problem).toMatch(
      /^lease renewal failing since .*: Redis refused: READONLY/,
    );
    health.renewed();
    health.publishFenced('lease-absent', T0 + 10);
    expect(health.report(T0 + 20).problem).toMatch(
      /publishes failing since .*: the lease is missing/,
    );
    health.published(T0 + 30);
    expect(health.report(T0 + 6_030).problem).toBeUndefined();
    expect(health.report(T0 + 6_031).problem).toBe(
      'no publish went out for 6001 ms (Redis not answering?)',
    );
  });
});

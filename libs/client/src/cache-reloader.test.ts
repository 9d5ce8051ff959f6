// Single-flight and retry logic of one cache's reloads, driven by a load function the test
// controls: pure logic, no Postgres.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheReloader, type LoadTarget, type ReloadReason } from './cache-reloader.ts';

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A reloader whose every load waits for the test to settle it. */
function controlled(backoff = { baseMs: 10, capMs: 20 }) {
  const loads: { reason: ReloadReason; target: LoadTarget; done: Deferred }[] = [];
  const failures: { error: Error; retryInMs: number }[] = [];
  const waiters: (() => void)[] = [];
  const reloader = new CacheReloader(
    {
      load: (reason, target) => {
        const done = deferred();
        loads.push({ reason, target, done });
        for (const wake of waiters.splice(0)) wake();
        return done.promise;
      },
      failed: (error, retryInMs) => failures.push({ error, retryInMs }),
    },
    backoff,
  );
  /** Resolves once load number `n` (1-based) has started. */
  const loadStarted = async (n: number) => {
    while (loads.length < n) await new Promise<void>((wake) => waiters.push(wake));
    const load = loads[n - 1];
    if (load === undefined) throw new Error(`load ${n} missing`);
    return load;
  };
  return { reloader, loads, failures, loadStarted };
}

describe('CacheReloader', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('coalesces any number of requests during a load into exactly one more load', async () => {
    const { reloader, loads, loadStarted } = controlled();
    reloader.request('start');
    const first = await loadStarted(1);
    for (let i = 0; i < 10; i++) reloader.request(i === 0 ? 'change' : 'resync');
    expect(loads).toHaveLength(1);
    first.done.resolve();
    const second = await loadStarted(2);
    // The follow-up carries the first reason that made the cache dirty.
    expect(second.reason).toBe('change');
    let idle = false;
    const idlePromise = reloader.idle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    second.done.resolve();
    await idlePromise;
    expect(loads.map((l) => l.reason)).toEqual(['start', 'change']);
    reloader.close();
  });

  it('starts a new load at once when asked after the previous one finished', async () => {
    const { reloader, loads, loadStarted } = controlled();
    reloader.request('change');
    (await loadStarted(1)).done.resolve();
    await reloader.idle();
    reloader.request('change');
    (await loadStarted(2)).done.resolve();
    await reloader.idle();
    expect(loads).toHaveLength(2);
    reloader.close();
  });

  it('reports a failed load with a backoff delay, then retries by itself until it succeeds', async () => {
    const { reloader, failures, loadStarted } = controlled({ baseMs: 10, capMs: 20 });
    const loaded = reloader.loadNow('start');
    (await loadStarted(1)).done.reject(new Error('boom 1'));
    await expect(loaded).rejects.toThrow('boom 1');
    expect(failures).toHaveLength(1);
    expect(failures[0]?.error.message).toBe('boom 1');
    expect(failures[0]?.retryInMs).toBeGreaterThanOrEqual(5);
    expect(failures[0]?.retryInMs).toBeLessThanOrEqual(10);

    const retry = await loadStarted(2);
    expect(retry.reason).toBe('retry');
    retry.done.reject(new Error('boom 2'));
    const again = await loadStarted(3);
    expect(failures).toHaveLength(2);
    // The second consecutive failure may wait up to twice the base.
    expect(failures[1]?.retryInMs).toBeLessThanOrEqual(20);
    again.done.resolve();
    await reloader.idle();
    expect(failures).toHaveLength(2);
    // Success resets the backoff: the next load is asked for and loads normally.
    const next = reloader.loadNow('change');
    (await loadStarted(4)).done.resolve();
    await expect(next).resolves.toBeUndefined();
    reloader.close();
  });

  it('runs a request at once instead of waiting out a pending retry', async () => {
    const { reloader, loadStarted } = controlled({ baseMs: 60_000, capMs: 60_000 });
    reloader.request('change');
    (await loadStarted(1)).done.reject(new Error('down'));
    await reloader.idle();
    reloader.request('change');
    const next = await loadStarted(2);
    expect(next.reason).toBe('change');
    next.done.resolve();
    await reloader.idle();
    reloader.close();
  });

  it('stops retrying and ignores requests once closed', async () => {
    // Fake timers prove the retry timer is gone without sleeping past it.
    vi.useFakeTimers();
    const { reloader, loads, failures, loadStarted } = controlled({ baseMs: 10, capMs: 10 });
    reloader.request('change');
    (await loadStarted(1)).done.reject(new Error('down'));
    await reloader.idle();
    expect(failures).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(1);
    reloader.close();
    reloader.request('change');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(loads).toHaveLength(1);
  });

  it('lets a running load finish after close but starts nothing after it', async () => {
    const { reloader, loads, loadStarted } = controlled();
    reloader.request('change');
    const first = await loadStarted(1);
    reloader.request('change');
    reloader.close();
    first.done.resolve();
    await reloader.idle();
    expect(loads).toHaveLength(1);
  });
  // What a replica read waits for: a load must include every position asked for before it
  // started, and a request without one (a resync, a retry) asks for everything up to now.
  describe('what a load must include', () => {
    it('is the highest event position asked for before the load started', async () => {
      const { reloader, loadStarted } = controlled();
      reloader.request('change', 0x20n);
      const first = await loadStarted(1);
      expect(first.target).toBe(0x20n);
      reloader.request('change', 0x40n);
      reloader.request('change', 0x30n);
      first.done.resolve();
      const second = await loadStarted(2);
      expect(second.target).toBe(0x40n);
      second.done.resolve();
      await reloader.idle();
    });

    it('is now when any request since the last load started carried no position', async () => {
      const { reloader, loadStarted } = controlled();
      reloader.request('start');
      const first = await loadStarted(1);
      expect(first.target).toBe('now');
      // A resync coalesced with an event: the load that serves both must include everything.
      reloader.request('change', 0x50n);
      reloader.request('resync');
      reloader.request('change', 0x60n);
      first.done.resolve();
      const second = await loadStarted(2);
      expect(second.reason).toBe('change');
      expect(second.target).toBe('now');
      second.done.resolve();
      await reloader.idle();
    });

    it('is now for the retry of a failed load, whatever that load was for', async () => {
      vi.useFakeTimers();
      const { reloader, loadStarted } = controlled();
      reloader.request('change', 0x10n);
      const first = await loadStarted(1);
      first.done.reject(new Error('replica and primary down'));
      await vi.advanceTimersByTimeAsync(50);
      const retry = await loadStarted(2);
      expect(retry.reason).toBe('retry');
      expect(retry.target).toBe('now');
      retry.done.resolve();
      await reloader.idle();
    });
  });
});

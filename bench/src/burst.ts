// The burst: many single-row updates from several connections at once, then how long the
// subscriber takes to converge on the final table and how many reloads it spent on the way.
import pg from 'pg';
import type { LocalTable } from './local-table.ts';
import { updateToken } from './protocol.ts';
import { RunningSystem } from './running-system.ts';
import type { SubscriberProcess } from './subscriber-process.ts';
import type { SubscriberCommand } from './systems.ts';
import { rowOf, updateRow, type BenchUrls } from './workload.ts';

/** Settings of a burst. */
export interface BurstOptions {
  readonly urls: BenchUrls;
  /** The driver's copy of the bench table: read again after the burst, which it does not follow. */
  readonly local: LocalTable;
  readonly updates: number;
  readonly connections: number;
  /** No reload for this long after convergence means the subscriber has finished. */
  readonly quietMs: number;
  /** Give up waiting (for convergence or for the reloads to stop) this long after the last commit. */
  readonly capMs: number;
  readonly nextSeq: () => number;
}

/** What one system did during and after a burst. */
export interface BurstResult {
  readonly system: string;
  readonly updates: number;
  readonly connections: number;
  /** From the first update sent to the last commit returning. */
  readonly burstMs: number;
  readonly commitsPerSecond: number;
  /** Reloads from the burst's start until the cache equalled the table; undefined if it never did. */
  readonly reloadsToConverge: number | undefined;
  /** From the last commit returning to the cache equalling the table. */
  readonly convergedAfterMs: number | undefined;
  /** Every reload the burst caused, including those after convergence. */
  readonly reloadsTotal: number;
  /** From the last commit returning to the last reload reported. */
  readonly lastReloadAfterMs: number | undefined;
  /** True when the subscriber was still reloading at the cap. */
  readonly capped: boolean;
}

async function sendUpdates(clients: readonly pg.Client[], options: BurstOptions): Promise<void> {
  let sent = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (sent < options.updates) {
        sent += 1;
        const seq = options.nextSeq();
        await updateRow(client, rowOf(seq), updateToken(seq));
      }
    }),
  );
}

// Waits until the subscriber has printed nothing for quietMs, or the deadline passes (true then).
async function waitQuiet(
  subscriber: SubscriberProcess,
  quietMs: number,
  deadline: number,
): Promise<boolean> {
  for (;;) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) return true;
    const wait = Math.min(quietMs, remaining);
    const line = await subscriber.waitFor(() => true, subscriber.mark(), wait);
    if (line === undefined) return wait < quietMs;
  }
}

/** Starts the system, runs the burst against it, waits for it to settle and stops it. */
export async function measureBurst(
  command: SubscriberCommand,
  options: BurstOptions,
): Promise<BurstResult> {
  const system = await RunningSystem.start(command, options.urls);
  const { subscriber } = system;
  const clients = Array.from(
    { length: options.connections },
    () => new pg.Client({ connectionString: options.urls.databaseUrl }),
  );
  try {
    await Promise.all(clients.map((client) => client.connect()));
    const from = subscriber.mark();
    const reloadsBefore = subscriber.reloads;
    const started = performance.now();
    await sendUpdates(clients, options);
    const lastCommit = performance.now();
    await options.local.reload(clients[0] as pg.Client);
    const deadline = lastCommit + options.capMs;
    const converged = await subscriber.waitToShow(
      options.local.expected(),
      'table',
      from,
      Math.max(0, deadline - performance.now()),
    );
    const capped = await waitQuiet(subscriber, options.quietMs, deadline);
    const lastReload = subscriber.since(from).findLast((line) => line.kind === 'reload');
    const burstMs = lastCommit - started;
    return {
      system: command.system,
      updates: options.updates,
      connections: options.connections,
      burstMs,
      commitsPerSecond: (options.updates / burstMs) * 1000,
      reloadsToConverge: converged === undefined ? undefined : converged.count - reloadsBefore,
      convergedAfterMs: converged === undefined ? undefined : converged.at - lastCommit,
      reloadsTotal: subscriber.reloads - reloadsBefore,
      lastReloadAfterMs: lastReload === undefined ? undefined : lastReload.at - lastCommit,
      capped,
    };
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await system.stop();
  }
}

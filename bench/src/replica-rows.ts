// A read replica as a watcher of the bench's changes: when the row an update wrote becomes
// visible there. That is the floor under any replica read of the change: the replica's own lag.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { ChangeWatcher } from './latency.ts';
import type { Expected } from './local-table.ts';
import { BENCH_TABLE } from './workload.ts';

/** Between two looks at the replica. */
const POLL_MS = 1;
/** Polling starts this long before the replay delay is over (see waitToShow). */
const LEAD_MS = 20;

/** Polls a replica for each change's row, on one session of its own. */
export class ReplicaRows implements ChangeWatcher {
  readonly system: string;
  readonly #db: pg.Client;
  readonly #delayMs: number;

  private constructor(system: string, db: pg.Client, delayMs: number) {
    this.system = system;
    this.#db = db;
    this.#delayMs = delayMs;
  }

  /** Connects to the replica (`url`: the bench database there), which replays `delayMs` behind. */
  static async connect(system: string, url: string, delayMs: number): Promise<ReplicaRows> {
    const db = new pg.Client({ connectionString: url, application_name: 'psc-bench-driver' });
    await db.connect();
    return new ReplicaRows(system, db, delayMs);
  }

  /** Nothing to mark: each wait looks for its own change's token. */
  mark(): number {
    return 0;
  }

  /** When the replica first showed the row named `expected.token`; undefined after `timeoutMs`. */
  async waitToShow(
    expected: Expected,
    _what: 'change',
    _from: number,
    timeoutMs: number,
  ): Promise<{ readonly at: number } | undefined> {
    const deadline = performance.now() + timeoutMs;
    // recovery_min_apply_delay holds each commit until its commit time + the delay, and the
    // commit time is before the UPDATE returned: looking earlier would only load the machine.
    await sleep(Math.max(0, this.#delayMs - LEAD_MS));
    while (performance.now() < deadline) {
      const result = await this.#db.query<{ seen: boolean }>({
        name: 'psc_bench_replica_seen',
        text: `SELECT EXISTS (SELECT FROM ${BENCH_TABLE} WHERE name = $1) AS seen`,
        values: [expected.token],
      });
      if (result.rows[0]?.seen === true) return { at: performance.now() };
      await sleep(POLL_MS);
    }
    return undefined;
  }

  /** Ends the session. */
  async close(): Promise<void> {
    await this.#db.end();
  }
}

// Many subscriber processes at once. Gated, their first loads happen at the same moment: the driver
// holds the table locked while they start, so each one's first read of it waits on the lock once
// the process has loaded its code, connected and started listening; once every process waits
// there, the driver lets go. (Counting connections right after the loads needs this: 40 cold
// processes take longer to start on two cores than a pool keeps its idle clients.)
import { waitFor } from '@pg-static-cache/test-support/wait';
import pg from 'pg';
import { SubscriberProcess } from './subscriber-process.ts';
import type { SpawnOptions, SubscriberCommand } from './systems.ts';

/** Every process must be waiting on the lock by then. */
const GATE_TIMEOUT_MS = 120_000;

/** One kind of process in a fleet. */
export interface FleetMember {
  readonly command: SubscriberCommand;
  readonly count: number;
  readonly options: SpawnOptions;
}

/** The driver's session that holds the gate; its application_name leaves it out of the counts. */
export interface GateSession {
  readonly url: string;
  readonly applicationName: string;
}

async function waitingOnLock(db: pg.Client, table: string): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(DISTINCT pid)::int AS n FROM pg_locks WHERE relation = $1::regclass AND NOT granted`,
    [table],
  );
  return result.rows[0]?.n ?? 0;
}

function spawnAll(members: readonly FleetMember[], into: SubscriberProcess[]): void {
  for (const { command, count, options } of members) {
    for (let i = 0; i < count; i += 1) into.push(SubscriberProcess.spawn(command, options));
  }
}

function failIfEnded(subscribers: readonly SubscriberProcess[]): void {
  const ended = subscribers.find((s) => s.ended !== undefined)?.ended;
  if (ended !== undefined) throw new Error(ended);
}

/**
 * Spawns every member's processes into `into` (so the caller stops them whatever happens) and
 * resolves once each has reported its first load. With `gate`, on a table each loads from
 * Postgres (not snapshot mode), all first loads wait until every process is ready to load.
 */
export async function startFleet(
  members: readonly FleetMember[],
  into: SubscriberProcess[],
  gate?: GateSession,
): Promise<void> {
  if (gate === undefined) {
    spawnAll(members, into);
  } else {
    const total = members.reduce((sum, m) => sum + m.count, 0);
    const table = members[0]?.options.table ?? '';
    const db = new pg.Client({
      connectionString: gate.url,
      application_name: gate.applicationName,
    });
    await db.connect();
    try {
      await db.query('BEGIN');
      await db.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      spawnAll(members, into);
      // This session holds the lock, yet reads pg_locks freely: that touches no table.
      await waitFor(
        `${total} processes waiting to load ${table}`,
        async () => {
          failIfEnded(into);
          return (await waitingOnLock(db, table)) >= total;
        },
        GATE_TIMEOUT_MS,
      );
    } finally {
      // Lets every first load go at once (or, on failure, lets the processes be stopped).
      await db.query('COMMIT').catch(() => undefined);
      await db.end().catch(() => undefined);
    }
  }
  await Promise.all(into.map((s) => s.ready()));
}

// The faults the soak draws from, each done as an operator (or an accident) would do it to the
// real processes and servers. A fault resolves when it is over (a stopped process continued, a
// server started again); what must then follow is the apps converging, checked by the caller.
import { setTimeout as delay } from 'node:timers/promises';
import { runCli } from '../support/process.ts';
import { publishForgeries, publishGarbage, replayMessages } from './forgery.ts';
import type { SeededRandom } from './seeded-random.ts';
import type { SoakWorld } from './soak-world.ts';

/** Every kind of fault, in the order the report lists them. */
export const FAULT_KINDS = [
  'leader-sigkill',
  'leader-sigstop',
  'postgres-restart',
  'redis-restart',
  'flushall',
  'backend-kill',
  'forged',
  'garbage',
  'replayed',
  'dropped',
  'table-recreate',
] as const;

/** One of {@link FAULT_KINDS}. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What a fault did. */
export interface FaultOutcome {
  /** Exactly what happened, for the fault sequence in reports and failure messages. */
  readonly detail: string;
  /** Recovery work that may finish after the apps converged (a replacement bridge starting). */
  readonly after?: Promise<unknown>;
}

type Fault = (w: SoakWorld, rng: SeededRandom) => Promise<FaultOutcome>;

/** How long the soak lets a bridge take to become leader after a fault. */
const LEADER_TIMEOUT_MS = 20_000;

/** Lets a fault last `ms` milliseconds, then undoes it with `restore`, whatever happens. */
async function forAWhile(ms: number, restore: () => Promise<void> | void): Promise<void> {
  try {
    await delay(ms);
  } finally {
    await restore();
  }
}

/** Terminates every LISTEN session (the leader's and the direct-mode app's); returns how many. */
async function killListenBackends(w: SoakWorld): Promise<number> {
  const leaderPid = (await w.bridges.lease())?.backendPid ?? 0;
  // A LISTEN session's last statement is its LISTEN or its heartbeat (a NOTIFY to itself). Found
  // first and terminated after: in one WHERE, the planner may terminate before it filters.
  const { rows } = await w.db.scenario.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_catalog.pg_stat_activity
     WHERE pid <> pg_catalog.pg_backend_pid()
       AND (pid = $1 OR query ~ '^(LISTEN |SELECT pg_notify\\()')`,
    [leaderPid],
  );
  await w.db.scenario.pool.query(
    'SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid',
    [rows.map((row) => row.pid)],
  );
  if (rows.length === 0) throw new Error('backend-kill found no LISTEN session to terminate');
  return rows.length;
}

/** Drops a table, creates it again (a new OID, no trigger), and runs `pg-static-cache install`. */
async function recreateTable(w: SoakWorld, rng: SeededRandom): Promise<string> {
  const table = rng.pick(w.tables);
  const { pool, url, channel } = w.db.scenario;
  await pool.query(`DROP TABLE ${table.sql}`);
  const goneMs = rng.int(0, 1_000);
  await delay(goneMs);
  await pool.query(table.createSql);
  const install = await runCli(['install', '--table', table.sql, '--channel', channel], {
    env: { DATABASE_URL: url },
    timeoutMs: 60_000,
  });
  if (install.code !== 0) throw new Error(`install failed (${install.code}): ${install.stderr}`);
  return `DROP TABLE ${table.sql}, created again after ${goneMs} ms, install`;
}

/** Each fault by kind. */
export const FAULTS: Readonly<Record<FaultKind, Fault>> = {
  async 'leader-sigkill'(w) {
    const leader = await w.bridges.leader(LEADER_TIMEOUT_MS);
    leader.proc.child.kill('SIGKILL');
    await leader.proc.exit;
    // Two bridges again, so the next leader fault has a standby too.
    const after = w.startBridge();
    after.catch(() => undefined);
    return { detail: `SIGKILL ${leader.id} (epoch ${leader.lease.epoch})`, after };
  },
  async 'leader-sigstop'(w, rng) {
    const leader = await w.bridges.leader(LEADER_TIMEOUT_MS);
    const ms = rng.int(500, 5_000);
    leader.proc.child.kill('SIGSTOP');
    await forAWhile(ms, () => void leader.proc.child.kill('SIGCONT'));
    return { detail: `SIGSTOP ${leader.id} (epoch ${leader.lease.epoch}) for ${ms} ms, SIGCONT` };
  },
  async 'postgres-restart'(w, rng) {
    const ms = rng.int(0, 1_500);
    await w.postgres.stop();
    await forAWhile(ms, () => w.postgres.start());
    return { detail: `Postgres stopped, started again after ${ms} ms` };
  },
  async 'redis-restart'(w, rng) {
    const ms = rng.int(0, 1_500);
    await w.redis.stop();
    await forAWhile(ms, () => w.redis.start());
    return { detail: `Redis stopped (nothing saved), started again after ${ms} ms` };
  },
  async flushall(w) {
    await w.admin.flushall();
    return { detail: 'FLUSHALL' };
  },
  async 'backend-kill'(w) {
    return { detail: `pg_terminate_backend of ${await killListenBackends(w)} LISTEN sessions` };
  },
  async forged(w, rng) {
    return { detail: await publishForgeries(w, rng) };
  },
  async garbage(w, rng) {
    return { detail: await publishGarbage(w, rng) };
  },
  async replayed(w, rng) {
    return { detail: await replayMessages(w, rng) };
  },
  async dropped(w, rng) {
    const chosen = rng.subset(w.proxies);
    // Up to past the apps' 6 s silence deadline, so both a seq gap and silence come up.
    const ms = rng.int(300, 8_000);
    const before = chosen.map(({ proxy }) => proxy.dropped());
    for (const { proxy } of chosen) proxy.pause();
    await forAWhile(ms, () => chosen.forEach(({ proxy }) => proxy.resume()));
    const lost = chosen.map(
      ({ mode, proxy }, i) => `${proxy.dropped() - (before[i] ?? 0)} to ${mode}`,
    );
    return { detail: `proxies dropped messages for ${ms} ms: ${lost.join(', ')}` };
  },
  async 'table-recreate'(w, rng) {
    return { detail: await recreateTable(w, rng) };
  },
};

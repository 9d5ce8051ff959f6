// A streaming hot standby of a local primary, with a settable replay delay: what a region's read
// replica looks like, lag included.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  asPostgres,
  postgresPid,
  postgresUrl,
  startServer,
  stopPostgres,
  withSession,
  type PostgresOptions,
} from './postgres.ts';
import { run, waitUntil } from './process.ts';

/** Where the replica runs and which primary it follows. */
export interface ReplicaOptions extends PostgresOptions {
  /** URL of the primary, as a role with REPLICATION (the local primary trusts 127.0.0.1). */
  readonly primaryUrl: string;
  /**
   * `recovery_min_apply_delay` in milliseconds. Given, it is set (on a running replica too);
   * omitted, a new replica gets {@link DEFAULT_REPLICA_DELAY_MS} and an existing one keeps its own.
   */
  readonly applyDelayMs?: number;
}

/** The replay delay of a new replica: long enough for a test to see a reload race the lag. */
export const DEFAULT_REPLICA_DELAY_MS = 1_500;

/** The physical replication slot on the primary that keeps the WAL the replica on `port` needs. */
export function replicaSlotName(port: number): string {
  return `psc_replica_${port}`;
}

// Ready means what a reader of a replica relies on: in recovery, replaying, and connected to its
// primary (a standby that cannot stream would answer queries with ever older rows).
async function streams(url: string): Promise<boolean> {
  try {
    return await withSession(url, async (client) => {
      const { rows } = await client.query<{ ready: unknown }>(
        `SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() IS NOT NULL
            AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming') AS ready`,
      );
      return rows[0]?.ready === true;
    });
  } catch {
    return false;
  }
}

// The slot is what lets a stopped replica catch up: missing (the primary was re-created, or the
// slot dropped) or lost (past max_slot_wal_keep_size), the replica can never catch up again.
async function slotUsable(primaryUrl: string, slot: string): Promise<boolean> {
  return withSession(primaryUrl, async (client) => {
    const { rows } = await client.query<{ wal_status: unknown }>(
      'SELECT wal_status FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    return rows.length === 1 && rows[0]?.wal_status !== 'lost';
  });
}

/** Drops the replica's slot on the primary once no replica streams from it (it pins WAL). */
export async function dropReplicaSlot(primaryUrl: string, port: number): Promise<void> {
  const slot = replicaSlotName(port);
  // A walsender outlives its replica's shutdown by a moment, and an active slot cannot be dropped.
  await waitUntil(
    `slot ${slot} to be released`,
    () =>
      withSession(primaryUrl, async (client) => {
        const { rows } = await client.query<{ active: unknown }>(
          'SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        return rows[0]?.active !== true;
      }),
    15_000,
  );
  await withSession(primaryUrl, (client) =>
    client.query(
      'SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
      [slot],
    ),
  );
}

/**
 * Starts (or reuses) the replica in `dir`, made by `pg_basebackup` from the primary when it has
 * none (or when its slot is gone), and resolves once it streams and replays.
 */
export async function startReplica(
  options: ReplicaOptions,
): Promise<{ pid: number; started: boolean }> {
  const { dir, port, primaryUrl, log } = options;
  const url = postgresUrl(port);
  const slot = replicaSlotName(port);
  const dataDir = join(dir, 'data');
  if (
    (await postgresPid(dir)) === undefined &&
    existsSync(join(dataDir, 'PG_VERSION')) &&
    !(await slotUsable(primaryUrl, slot))
  ) {
    log(`replica in ${dataDir} can no longer catch up (slot ${slot} missing or lost): rebuilding`);
    await rm(dataDir, { recursive: true, force: true });
  }
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  const result = await startServer({
    ...options,
    what: 'replica',
    create: async (bin, target) => {
      // A slot of that name left by an earlier replica in a deleted folder.
      await dropReplicaSlot(primaryUrl, port);
      log(`pg_basebackup ${target} from ${primaryUrl}`);
      const [cmd, args] = asPostgres(join(bin, 'pg_basebackup'), [
        ...['-d', primaryUrl, '-D', target],
        // -R: standby.signal and primary_conninfo; -C -S: a slot, so the primary keeps the WAL a
        // stopped replica needs to catch up.
        ...['-X', 'stream', '-R', '-c', 'fast', '-C', '-S', slot],
      ]);
      await run(cmd, args);
    },
    // Never recovery_min_apply_delay here: a command-line value would outrank ALTER SYSTEM, and
    // the delay must stay settable while the replica runs.
    settings: ['hot_standby=on'],
    ready: () => streams(url),
  });
  const delay = options.applyDelayMs ?? (fresh ? DEFAULT_REPLICA_DELAY_MS : undefined);
  if (delay !== undefined) await setReplicaApplyDelay(url, delay);
  return result;
}

/** The replica's `recovery_min_apply_delay`, in milliseconds. */
export async function replicaApplyDelay(url: string): Promise<number> {
  return withSession(url, async (client) => {
    const { rows } = await client.query<{ setting: unknown }>(
      "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'recovery_min_apply_delay'",
    );
    return Number(rows[0]?.setting);
  });
}

/**
 * Sets the running replica's replay delay (ALTER SYSTEM, so it survives a restart, then a reload);
 * resolves once the server has reloaded, so commits replayed afterwards wait `ms`.
 */
export async function setReplicaApplyDelay(url: string, ms: number): Promise<void> {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`replica delay must be a whole number of ms ≥ 0, got ${ms}`);
  }
  if ((await replicaApplyDelay(url)) === ms) return;
  await withSession(url, async (client) => {
    // ALTER SYSTEM takes no parameters; `ms` is a checked integer.
    await client.query(`ALTER SYSTEM SET recovery_min_apply_delay = '${ms}ms'`);
    await client.query('SELECT pg_catalog.pg_reload_conf()');
  });
  // The postmaster rereads its files on the signal and new sessions inherit its settings, so a
  // new session reading the value means the reload happened (the startup process gets the same
  // signal, and rechecks the delay while it waits).
  await waitUntil(
    `the replica's delay to become ${ms} ms`,
    async () => (await replicaApplyDelay(url)) === ms,
    10_000,
  );
}

/** True once the replica at `url` has replayed the WAL up to `lsn` (false while it cannot answer). */
export function replicaReplayed(url: string, lsn: string): Promise<boolean> {
  return withSession(url, async (client) => {
    const { rows } = await client.query<{ reached: unknown }>(
      'SELECT pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn AS reached',
      [lsn],
    );
    return rows[0]?.reached === true;
  }).catch(() => false);
}

/**
 * Resolves once the replica at `url` has replayed everything the primary at `primaryUrl` had
 * written when this was called (so after the replica's delay); returns that position.
 */
export async function waitForReplay(
  url: string,
  primaryUrl: string,
  timeoutMs = 30_000,
): Promise<string> {
  const lsn = await withSession(primaryUrl, async (client) => {
    const { rows } = await client.query<{ lsn: string }>(
      'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn',
    );
    return rows[0]?.lsn ?? '';
  });
  await waitUntil(`the replica to replay ${lsn}`, () => replicaReplayed(url, lsn), timeoutMs);
  return lsn;
}

/** Fast shutdown of the replica in `dir`, by PID (its slot stays, so it catches up on restart). */
export function stopReplica(dir: string): Promise<void> {
  return stopPostgres(dir);
}

/** PID of the replica running from `dir`, or undefined. */
export function replicaPid(dir: string): Promise<number | undefined> {
  return postgresPid(dir);
}

/** Stops the replica, drops its slot (when the primary answers) and deletes its folder. */
export async function removeReplica(options: {
  readonly dir: string;
  readonly port: number;
  readonly primaryUrl: string;
}): Promise<void> {
  await stopReplica(options.dir);
  await dropReplicaSlot(options.primaryUrl, options.port).catch(() => undefined);
  await rm(options.dir, { recursive: true, force: true });
}

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { aptInstall } from './apt.ts';
import { isRunning, readPid, run, stopPid, waitUntil } from './process.ts';

/** Where and how the throwaway cluster runs. */
export interface PostgresOptions {
  readonly dir: string;
  readonly port: number;
  readonly log: (line: string) => void;
}

const POSTGRES_ROOT = '/usr/lib/postgresql';
const isRoot = process.getuid?.() === 0;

async function findBinDir(): Promise<string | undefined> {
  if (!existsSync(POSTGRES_ROOT)) return undefined;
  const versions = (await readdir(POSTGRES_ROOT))
    .filter((v) => existsSync(join(POSTGRES_ROOT, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(POSTGRES_ROOT, versions[0], 'bin');
}

async function ensureBinDir(log: (line: string) => void): Promise<string> {
  const found = await findBinDir();
  if (found !== undefined) return found;
  await aptInstall(['postgresql'], log);
  const installed = await findBinDir();
  if (installed === undefined) throw new Error('postgresql installed but no postgres binary found');
  return installed;
}

/** The connection URL of the cluster on `port`. */
export function postgresUrl(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

// Every server gets these. A replica must match its primary's max_connections (a standby refuses
// to start with fewer), so primary and replica share one list.
const COMMON_SETTINGS = [
  'listen_addresses=127.0.0.1',
  'unix_socket_directories=',
  'fsync=off',
  'full_page_writes=off',
  'max_connections=300',
  'shared_preload_libraries=pg_stat_statements',
  'track_functions=all',
  // A replica's slot keeps WAL on its primary while the replica is stopped; a replica stopped for
  // good (or a test killed before it dropped its slot) must not fill the disk. Past this the slot
  // is lost and the replica is rebuilt at its next start.
  'max_slot_wal_keep_size=1GB',
];

// Postgres refuses to run as root, so as root every server binary runs as the `postgres` user
// that the Debian package creates. setpriv execs in place, so the PID we see is the server's.
/** Runs `binary` as the server's user: `postgres` when we are root. */
export function asPostgres(binary: string, args: readonly string[]): [string, string[]] {
  return isRoot
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', binary, ...args]]
    : [binary, [...args]];
}

/** Runs `fn` on a new session to `url` (1 s to connect), closed afterwards. */
export async function withSession<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function answers(url: string): Promise<boolean> {
  return withSession(url, (client) => client.query('SELECT 1')).then(
    () => true,
    () => false,
  );
}

/** PID of the running cluster in `dir`, or undefined (a stale postmaster.pid counts as not running). */
export async function postgresPid(dir: string): Promise<number | undefined> {
  const dataDir = join(dir, 'data');
  const pid = await readPid(join(dataDir, 'postmaster.pid'));
  return pid !== undefined && (await isPostmasterOf(pid, dataDir)) ? pid : undefined;
}

// A killed server leaves its postmaster.pid behind, and its PID is soon reused: on a busy machine
// (pid_max 32768, threads count too) often by a backend of some other cluster, whose command line
// says "postgres" as well. Taken for ours, it made a start wait 30 s for a server that was not
// there. Every postgres process runs in its data directory, so that is what identifies ours.
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  if (!(await isRunning(pid, 'postgres'))) return false;
  // No /proc (not Linux): the name check is all there is.
  if (!existsSync('/proc/self/cwd')) return true;
  try {
    return (await realpath(`/proc/${pid}/cwd`)) === (await realpath(dataDir));
  } catch (error) {
    // Gone meanwhile: not running. Not allowed to look: trust the name check.
    return (error as NodeJS.ErrnoException).code === 'EACCES';
  }
}

/**
 * How many processes are still attached to the shared memory of the server that ran in `dataDir`
 * (0 when none, or when the system cannot tell). Postgres keys that segment by the data
 * directory's inode, and refuses to start while anything is attached to it.
 */
async function sharedMemoryUsers(dataDir: string): Promise<number> {
  let table: string;
  let inode: number;
  try {
    [table, inode] = await Promise.all([
      readFile('/proc/sysvipc/shm', 'utf8'),
      stat(dataDir).then((s) => s.ino),
    ]);
  } catch {
    return 0;
  }
  for (const line of table.split('\n').slice(1)) {
    // key shmid perms size cpid lpid nattch ...
    const [key, , , , , , attached] = line.trim().split(/\s+/);
    if (Number(key) === inode) return Number(attached) || 0;
  }
  return 0;
}

// After a SIGKILL of the postmaster, its children (checkpointer, walwriter, backends…) exit only
// once they notice, which on a loaded machine can take seconds; until then a new postmaster exits
// at once ("pre-existing shared memory block is still in use"). Waited for, not retried on a timer.
async function waitForOldServerToExit(dataDir: string, log: (line: string) => void): Promise<void> {
  const users = await sharedMemoryUsers(dataDir);
  if (users === 0) return;
  log(`waiting for ${users} process(es) of the old server in ${dataDir} to exit`);
  await waitUntil(
    `the old server's processes to release its shared memory (${dataDir})`,
    async () => (await sharedMemoryUsers(dataDir)) === 0,
    60_000,
  );
}

/** Starts (or reuses) the cluster and resolves once it accepts queries. */
export async function startPostgres(
  options: PostgresOptions,
): Promise<{ pid: number; started: boolean }> {
  const url = postgresUrl(options.port);
  return startServer({
    ...options,
    what: 'postgres',
    create: async (bin, dataDir) => {
      options.log(`initdb ${dataDir}`);
      const [cmd, args] = asPostgres(join(bin, 'initdb'), [
        '-D',
        dataDir,
        '--auth=trust',
        '-U',
        'postgres',
        '--no-sync',
        '-E',
        'UTF8',
        '--locale=C',
      ]);
      await run(cmd, args);
    },
    settings: [],
    ready: () => answers(url),
  });
}

/** How {@link startServer} makes, starts and probes one kind of server (a primary, a replica). */
export interface ServerSpec extends PostgresOptions {
  /** Names the server in log lines and errors. */
  readonly what: string;
  /** Fills the empty data directory `dataDir` (initdb, pg_basebackup), run as the server's user. */
  readonly create: (bin: string, dataDir: string) => Promise<void>;
  /** Extra `name=value` settings for the command line (after the common ones). */
  readonly settings: readonly string[];
  /** True once the server does what it is for (answers queries, streams from its primary). */
  readonly ready: () => Promise<boolean>;
}

/**
 * Starts (or reuses) the server in `dir`/data: creates the data directory when it has none, waits
 * for what is left of a killed server, and resolves once `ready` says so.
 */
export async function startServer(spec: ServerSpec): Promise<{ pid: number; started: boolean }> {
  const { dir, port, log, what } = spec;
  const dataDir = join(dir, 'data');
  const running = await postgresPid(dir);
  if (running !== undefined) {
    await waitUntil(`${what} on port ${port}`, spec.ready, 30_000);
    return { pid: running, started: false };
  }
  const bin = await ensureBinDir(log);
  await mkdir(dir, { recursive: true });
  if (isRoot) {
    const { uid, gid } = await postgresUser();
    await chown(dir, uid, gid);
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await rm(dataDir, { recursive: true, force: true });
    await spec.create(bin, dataDir);
  }
  await waitForOldServerToExit(dataDir, log);
  // Anything else that makes a new postmaster exit at once (a port not yet free) gets a few tries.
  for (let attempt = 1; ; attempt++) {
    const exited = spawnPostgres(bin, dir, port, spec.settings);
    log(`${what} starting on port ${port}`);
    const server = { exited: false };
    void exited.then(() => {
      server.exited = true;
    });
    try {
      await waitUntil(
        `${what} on port ${port}`,
        async () => server.exited || (await spec.ready()),
        30_000,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; log tail: ${await logTail(dir)}`, {
        cause: error,
      });
    }
    if (!server.exited) break;
    if (attempt === 5) throw new Error(`${what} exited at start; log tail: ${await logTail(dir)}`);
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
  const pid = await postgresPid(dir);
  if (pid === undefined) {
    throw new Error(`${what} answered on port ${port} but ${dataDir}/postmaster.pid is missing`);
  }
  return { pid, started: true };
}

function spawnPostgres(
  bin: string,
  dir: string,
  port: number,
  settings: readonly string[],
): Promise<void> {
  const dataDir = join(dir, 'data');
  // A postmaster.pid left by a killed server would make postgres refuse to start.
  rmSync(join(dataDir, 'postmaster.pid'), { force: true });
  const logFd = openSync(join(dir, 'postgres.log'), 'a');
  const [cmd, args] = asPostgres(join(bin, 'postgres'), [
    '-D',
    dataDir,
    '-p',
    String(port),
    ...[...COMMON_SETTINGS, ...settings].flatMap((setting) => ['-c', setting]),
  ]);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.unref();
  return new Promise((resolve) => {
    child.on('exit', () => {
      resolve();
    });
  });
}

async function logTail(dir: string): Promise<string> {
  const text = await readFile(join(dir, 'postgres.log'), 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-3).join(' | ');
}

/** Fast shutdown of the cluster in `dir`, by the PID in its postmaster.pid. */
export async function stopPostgres(dir: string): Promise<void> {
  const pid = await postgresPid(dir);
  if (pid !== undefined) await stopPid(pid, 'postgres', 'SIGINT');
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([
    run('id', ['-u', 'postgres']),
    run('id', ['-g', 'postgres']),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

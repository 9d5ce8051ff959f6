import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, rm } from 'node:fs/promises';
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

// Postgres refuses to run as root, so as root every server binary runs as the `postgres` user
// that the Debian package creates. setpriv execs in place, so the PID we see is the server's.
function asPostgres(binary: string, args: readonly string[]): [string, string[]] {
  return isRoot
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', binary, ...args]]
    : [binary, [...args]];
}

/** The connection URL of the cluster on `port`. */
export function postgresUrl(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** PID of the running cluster in `dir`, or undefined (a stale postmaster.pid counts as not running). */
export async function postgresPid(dir: string): Promise<number | undefined> {
  const pid = await readPid(join(dir, 'data', 'postmaster.pid'));
  return pid !== undefined && (await isRunning(pid, 'postgres')) ? pid : undefined;
}

/** Starts (or reuses) the cluster and resolves once it accepts queries. */
export async function startPostgres(
  options: PostgresOptions,
): Promise<{ pid: number; started: boolean }> {
  const { dir, port, log } = options;
  const dataDir = join(dir, 'data');
  const url = postgresUrl(port);
  const running = await postgresPid(dir);
  if (running !== undefined) {
    await waitUntil(`postgres on port ${port}`, () => answers(url), 30_000);
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
    log(`initdb ${dataDir}`);
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
  }
  // After a crash, orphaned backends of the old server can hold its shared memory for a moment and
  // make the new postmaster exit at once: retry the spawn a few times before giving up.
  for (let attempt = 1; ; attempt++) {
    const exited = spawnPostgres(bin, dir, port);
    log(`postgres starting on port ${port}`);
    const server = { exited: false };
    void exited.then(() => {
      server.exited = true;
    });
    try {
      await waitUntil(
        `postgres on port ${port}`,
        async () => server.exited || (await answers(url)),
        30_000,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; log tail: ${await logTail(dir)}`, {
        cause: error,
      });
    }
    if (!server.exited) break;
    if (attempt === 5) throw new Error(`postgres exited at start; log tail: ${await logTail(dir)}`);
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
  const pid = await postgresPid(dir);
  if (pid === undefined) {
    throw new Error(`postgres answered on port ${port} but ${dataDir}/postmaster.pid is missing`);
  }
  return { pid, started: true };
}

function spawnPostgres(bin: string, dir: string, port: number): Promise<void> {
  const dataDir = join(dir, 'data');
  // A postmaster.pid left by a killed server would make postgres refuse to start.
  rmSync(join(dataDir, 'postmaster.pid'), { force: true });
  const logFd = openSync(join(dir, 'postgres.log'), 'a');
  const [cmd, args] = asPostgres(join(bin, 'postgres'), [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=300',
    '-c',
    'shared_preload_libraries=pg_stat_statements',
    '-c',
    'track_functions=all',
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

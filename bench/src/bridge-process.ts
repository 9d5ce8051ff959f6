// The bench's bridge: `node --import tsx apps/bridge/src/main.ts` configured by environment as an
// operator would, with every default except the namespace, the channel and a free HTTP port.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '@pg-static-cache/local-services';
import { namesFor } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { PROBE_FILE_ENV } from './probe-marks.ts';
import { stopChild } from './stop-child.ts';
import { BENCH_CHANNEL, BENCH_NAMESPACE, type BenchUrls } from './workload.ts';

/** A cold start on a loaded two-core machine takes seconds; leading follows within a poll. */
const LEAD_TIMEOUT_MS = 30_000;
const LEASE_POLL_MS = 20;
/** pino's level number of `warn`: the bridge's lines at or above it are passed on to stderr. */
const WARN = 40;
const TAIL_LINES = 20;

/** The fields of a bridge log line (pino JSON) the bench uses. */
interface BridgeLogLine {
  readonly level: number;
  readonly msg: string;
  readonly bridge: string | undefined;
  readonly error: string | undefined;
  /** `reload done` (the worker's debug line): the job's table and milliseconds (query + store + publish). */
  readonly reload: WorkerReload | undefined;
}

/** One reload job the bridge's in-process worker finished, from its `reload done` debug line. */
export interface WorkerReload {
  readonly table: string;
  readonly ms: number;
  /** `performance.now()` in the driver when the line arrived. */
  readonly at: number;
}

function asRecord(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)
    : undefined;
}

function parseLogLine(text: string): BridgeLogLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = asRecord(value);
  if (record === undefined) return undefined;
  const { level, msg, bridge, table, ms } = record;
  const error = asRecord(record['err'])?.['message'];
  const reload =
    msg === 'reload done' && typeof table === 'string' && typeof ms === 'number'
      ? { table, ms, at: performance.now() }
      : undefined;
  return {
    reload,
    level: typeof level === 'number' ? level : 0,
    msg: typeof msg === 'string' ? msg : '',
    bridge: typeof bridge === 'string' ? bridge : undefined,
    error: typeof error === 'string' ? error : undefined,
  };
}

/** The `bridge` field of the lease JSON at `<namespace>:leader`, if it is one. */
function leaseHolder(text: string | null): string | undefined {
  if (text === null) return undefined;
  try {
    const bridge = asRecord(JSON.parse(text))?.['bridge'];
    return typeof bridge === 'string' ? bridge : undefined;
  } catch {
    return undefined;
  }
}

/** A connection for the driver's own Redis reads; fails fast instead of queueing. */
function driverRedis(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}

/** A running bridge process, its id (from its logs) and the tail of its logs. */
export class BridgeProcess {
  readonly #child: ChildProcess;
  readonly #tail: string[] = [];
  /** The worker's finished jobs; logged at debug level, so only with `PSC_LOG_LEVEL=debug` in `env`. */
  readonly reloads: WorkerReload[] = [];
  #id: string | undefined;
  #exit: Error | undefined;

  private constructor(
    urls: BenchUrls,
    probeFile: string | undefined,
    env: Readonly<Record<string, string>>,
  ) {
    // The profile's probe loads before the bridge's code (after tsx, which it needs).
    const probe =
      probeFile === undefined ? [] : ['--import', join(repoRoot, 'bench', 'src', 'probe.ts')];
    this.#child = spawn(
      process.execPath,
      ['--import', 'tsx', ...probe, join(repoRoot, 'apps', 'bridge', 'src', 'main.ts')],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          DATABASE_URL: urls.databaseUrl,
          REDIS_URL: urls.redisUrl,
          PSC_NAMESPACE: BENCH_NAMESPACE,
          PSC_CHANNEL: BENCH_CHANNEL,
          PSC_HTTP_PORT: '0',
          ...(probeFile === undefined ? {} : { [PROBE_FILE_ENV]: probeFile }),
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const stderr = this.#child.stderr;
    if (stderr === null) throw new Error('bridge stderr is not a pipe');
    createInterface({ input: stderr }).on('line', (text) => this.#onLog(text));
    this.#child.on('error', (error) => (this.#exit ??= error));
    this.#child.on('exit', (code, signal) => {
      this.#exit ??= new Error(`bridge exited (${signal ?? `code ${code}`})`);
    });
  }

  /**
   * Starts a bridge and resolves once it leads: the lease `<namespace>:leader` names it. With
   * `probeFile`, the bridge profile's probe stamps its steps into that file (see probe.ts); `env`
   * adds to (or overrides) the bridge's environment.
   */
  static async start(
    urls: BenchUrls,
    probeFile?: string,
    env: Readonly<Record<string, string>> = {},
  ): Promise<BridgeProcess> {
    const bridge = new BridgeProcess(urls, probeFile, env);
    try {
      await bridge.#waitLeading(urls.redisUrl);
      return bridge;
    } catch (error) {
      await bridge.stop();
      throw error;
    }
  }

  /** SIGTERM (the bridge deletes its lease and ends its sessions), SIGKILL after 5 s. Safe twice. */
  async stop(): Promise<void> {
    await stopChild(this.#child);
  }

  #onLog(text: string): void {
    this.#tail.push(text);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
    const line = parseLogLine(text);
    if (line === undefined) {
      process.stderr.write(`bridge: ${text}\n`);
      return;
    }
    this.#id ??= line.bridge;
    if (line.reload !== undefined) this.reloads.push(line.reload);
    if (line.level >= WARN) {
      process.stderr.write(
        `bridge: ${line.msg}${line.error === undefined ? '' : `: ${line.error}`}\n`,
      );
    }
  }

  async #waitLeading(redisUrl: string): Promise<void> {
    const leader = namesFor(BENCH_NAMESPACE).leader;
    const redis = driverRedis(redisUrl);
    try {
      await redis.connect();
      const deadline = performance.now() + LEAD_TIMEOUT_MS;
      while (performance.now() < deadline) {
        if (this.#exit !== undefined) throw this.#failure(this.#exit.message);
        // The id comes from the bridge's first log line; the lease may still be a dead bridge's.
        if (this.#id !== undefined && leaseHolder(await redis.get(leader)) === this.#id) return;
        await sleep(LEASE_POLL_MS);
      }
      throw this.#failure(`bridge did not lead within ${LEAD_TIMEOUT_MS / 1000} s`);
    } finally {
      redis.disconnect();
    }
  }

  #failure(message: string): Error {
    return new Error(`${message}; its last log lines:\n${this.#tail.join('\n') || '(none)'}`);
  }
}

/** Deletes every key of the bench namespace (lease, epoch, status, presence) from `redisUrl`. */
export async function clearNamespace(redisUrl: string): Promise<void> {
  const redis = driverRedis(redisUrl);
  try {
    await redis.connect();
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${BENCH_NAMESPACE}:*`, count: 100 })) {
      keys.push(...(batch as string[]));
    }
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

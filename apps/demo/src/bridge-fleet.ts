// The demo's bridges: separate `node --import tsx apps/bridge/src/main.ts` processes configured by
// environment, as an operator would run them. One leads, one stands by; in snapshot mode each also
// runs a reload worker. The scenario kills and restarts them; `close()` stops them (SIGTERM,
// SIGKILL after a deadline).
import type { LeaseValue } from '@pg-static-cache/protocol';
import { httpPortOf, metricValue, scrapeMetrics } from './bridge-metrics.ts';
import { BridgeWatch, type Term } from './bridge-watch.ts';
import { TsxChild } from './child-process.ts';
import type { Narrator } from './narrator.ts';
import { pollUntil } from './waiting.ts';

/** The bridges' ids, as they appear in the lease, in messages and in their logs. */
export const BRIDGE_IDS = ['bridge-a', 'bridge-b'] as const;

/** What the bridges show in pg_stat_activity (the bridge's default application_name). */
export const BRIDGE_APPLICATION_NAME = 'pg-static-cache-bridge';

/** What the sessions of the bridges' reload workers show in pg_stat_activity. */
export const WORKER_APPLICATION_NAME = 'pg-static-cache-worker';

// The bridges' HTTP endpoints (health, /metrics, Bull Board) listen here by default.
const HTTP_HOST = '127.0.0.1';

const BRIDGE_SCRIPT = 'apps/bridge/src/main.ts';

/**
 * The bridges' settings beyond where to connect. Timing faster than the defaults (lease 3 s, renew
 * 1 s, standby poll 500 ms, heartbeat 2 s) so a failover is visible within a second; the apps'
 * silence deadline is three heartbeats.
 */
export const BRIDGE_SETTINGS = {
  PSC_LEASE_MS: 2_000,
  PSC_RENEW_MS: 500,
  PSC_STANDBY_POLL_MS: 250,
  PSC_HEARTBEAT_MS: 1_000,
} as const;

/**
 * Snapshot mode's reload jobs and workers. A failed job retries after 200 ms, doubling: eight
 * attempts span 25 s, so the failing-reload step cannot use them all up. A job whose worker was
 * SIGKILLed runs again within about 6 s (lock 4 s, stall check every 2 s) rather than 60 s.
 */
export const JOB_SETTINGS = {
  PSC_JOBS: 1,
  PSC_WORKER: 1,
  PSC_JOB_ATTEMPTS: 8,
  PSC_JOB_BACKOFF_MS: 200,
  PSC_JOB_LOCK_MS: 4_000,
  PSC_JOB_STALLED_INTERVAL_MS: 2_000,
} as const;

// Redis mode's apps reload from Postgres themselves: snapshots would be work (and Redis keys)
// nobody reads.
const NO_JOBS = { PSC_JOBS: 0 } as const;

/** The bridges' environment settings, with or without reload jobs. */
export function bridgeSettings(jobs: boolean): Readonly<Record<string, number>> {
  return { ...BRIDGE_SETTINGS, ...(jobs ? JOB_SETTINGS : NO_JOBS) };
}

/** Where the bridges connect and what they relay. */
export interface BridgeFleetOptions {
  /** The bridge role's URL. */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly channel: string;
  /**
   * The demo's tables (`schema.name`): a resync covers these, not every table in the database with
   * triggers on the channel (the default channel may be shared with the user's own tables).
   */
  readonly tables: readonly string[];
  /** Add reload jobs and run a reload worker in each bridge (snapshot mode). */
  readonly jobs: boolean;
  readonly log: Narrator;
}

// A bridge whose presence entry is this fresh still runs (it refreshes on every poll or heartbeat).
const ALIVE_MS = 5_000;

/** The running bridges and the Redis view of them. */
export class BridgeFleet {
  readonly watch: BridgeWatch;
  readonly #options: BridgeFleetOptions;
  readonly #processes = new Map<string, TsxChild>();
  /** Each running bridge's HTTP port, from its start-up log line. */
  readonly #ports = new Map<string, number>();
  /** Exits the demo caused (a kill or a stop): any other exit is a bridge failure. */
  readonly #expected = new Set<TsxChild>();
  readonly #failures: string[] = [];
  /** Rejects at the first bridge failure, so waits on the bridges end at once instead of at their deadline. */
  readonly #failed: Promise<never>;
  #fail: (error: Error) => void = () => undefined;

  private constructor(options: BridgeFleetOptions, watch: BridgeWatch) {
    this.#options = options;
    this.watch = watch;
    this.#failed = new Promise<never>((_, reject) => (this.#fail = reject));
    // Only ever awaited through a race: a failure nobody waits on is reported by `failures`.
    this.#failed.catch(() => undefined);
  }

  /**
   * Watches the namespace, refuses to start next to bridges that still run in it (an earlier run
   * killed before it could stop them would otherwise lead this one), forgets the earlier run's
   * lease and epochs, and starts every bridge.
   */
  static async start(options: BridgeFleetOptions): Promise<BridgeFleet> {
    const watch = await BridgeWatch.open(options.redisUrl, options.namespace);
    try {
      const alive = [...(await watch.presence())].filter(
        ([, entry]) => Date.now() - entry.lastSeenAt < ALIVE_MS,
      );
      if (alive.length > 0) {
        const which = alive.map(([id, entry]) => `${id} pid ${entry.pid} on ${entry.host}`);
        throw new Error(
          `bridges still run in namespace ${options.namespace} (${which.join(', ')}): stop them or use another --schema`,
        );
      }
      await watch.reset();
    } catch (error) {
      watch.close();
      throw error;
    }
    const fleet = new BridgeFleet(options, watch);
    for (const id of BRIDGE_IDS) fleet.#spawn(id);
    return fleet;
  }

  /** Whether the bridges add reload jobs and run reload workers (snapshot mode). */
  get jobs(): boolean {
    return this.#options.jobs;
  }

  /** Bridge ids with their current process ids. */
  get processes(): readonly { readonly id: string; readonly pid: number | undefined }[] {
    return [...this.#processes].map(([id, child]) => ({ id, pid: child.pid }));
  }

  /** Bridges that exited without the demo killing or stopping them, with their last log lines. */
  get failures(): readonly string[] {
    return this.#failures;
  }

  /** The process id of bridge `id`. */
  pid(id: string): number | undefined {
    return this.#processes.get(id)?.pid;
  }

  /** Where bridge `id` serves /metrics and Bull Board, once it has started. */
  httpUrl(id: string): string | undefined {
    const port = this.#ports.get(id);
    return port === undefined ? undefined : `http://${HTTP_HOST}:${port}`;
  }

  /**
   * The sum over the running bridges of a sample on their /metrics (e.g. the reload workers'
   * retried attempts). A restarted bridge counts from zero again: compare values within a step.
   */
  async metric(name: string, labels: Readonly<Record<string, string>>): Promise<number> {
    const values = await Promise.all(
      [...this.#ports.values()].map(async (port) =>
        metricValue(await scrapeMetrics(HTTP_HOST, port, 2_000), name, labels),
      ),
    );
    return values.reduce((sum, value) => sum + value, 0);
  }

  /** The current lease; rejects when none is held or it names a bridge that is not ours. */
  async leader(): Promise<LeaseValue> {
    const lease = await this.watch.lease();
    if (lease === undefined) throw new Error('no bridge holds the lease');
    if (!this.#processes.has(lease.bridge)) {
      throw new Error(`the lease names ${lease.bridge}, which this demo did not start`);
    }
    return lease;
  }

  /** The first term of a bridge of ours with an epoch above `afterEpoch`, seen since `from`. */
  waitTerm(afterEpoch: number, timeoutMs: number, from = 0): Promise<Term> {
    const term = this.watch.waitTerm(
      `leadership term above epoch ${afterEpoch}`,
      (t) => t.epoch > afterEpoch && this.#processes.has(t.bridge),
      timeoutMs,
      from,
    );
    return Promise.race([term, this.#failed]);
  }

  /** Resolves once bridge `id`'s current process announces itself as standby. */
  async waitStandby(id: string, timeoutMs: number): Promise<void> {
    const pid = this.pid(id);
    const standby = pollUntil(
      `standby announcement of ${id} (pid ${pid ?? '?'})`,
      async () => {
        const entry = (await this.watch.presence()).get(id);
        return entry?.role === 'standby' && entry.pid === pid ? true : undefined;
      },
      timeoutMs,
      100,
    );
    await Promise.race([standby, this.#failed]);
  }

  /** SIGKILLs bridge `id`: no goodbye, no lease release; its Postgres session dies with it. */
  kill(id: string): void {
    const child = this.#processes.get(id);
    if (child === undefined) throw new Error(`no bridge ${id}`);
    this.#expected.add(child);
    this.#ports.delete(id);
    child.kill('SIGKILL');
  }

  /** Starts bridge `id` again (after a kill); it joins as standby. */
  restart(id: string): void {
    this.#spawn(id);
  }

  /**
   * Stops every bridge (SIGTERM, SIGKILL after `deadlineMs`) and the watch. Rejects when a bridge
   * handled SIGTERM but did not exit 0 (its contract), or needed the SIGKILL; one still starting
   * dies of the SIGTERM itself, which is fine. Bridges that exited on their own are in `failures`.
   */
  async close(deadlineMs: number): Promise<void> {
    const running = [...this.#processes].filter(([, child]) => !this.#expected.has(child));
    for (const [, child] of running) this.#expected.add(child);
    const exits = await Promise.all(
      running.map(async ([id, child]) => [id, child, await child.stop(deadlineMs)] as const),
    );
    this.watch.close();
    const bad = exits
      .filter(([, , exit]) => exit.code !== 0 && exit.signal !== 'SIGTERM')
      .map(
        ([id, child]) => `${id} exited with ${child.describeExit()} on SIGTERM: ${lastLog(child)}`,
      );
    if (bad.length > 0) throw new Error(bad.join('; '));
  }

  #spawn(id: string): void {
    const { databaseUrl, redisUrl, namespace, channel, tables, jobs, log } = this.#options;
    const child = new TsxChild(BRIDGE_SCRIPT, [], {
      ...environmentWithoutPsc(),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      PSC_NAMESPACE: namespace,
      PSC_CHANNEL: channel,
      PSC_BRIDGE_ID: id,
      PSC_TABLES: tables.join(','),
      PSC_HTTP_PORT: '0',
      ...Object.fromEntries(Object.entries(bridgeSettings(jobs)).map(([k, v]) => [k, String(v)])),
    });
    child.on('stderr', (line) => {
      const port = httpPortOf(line);
      if (port !== undefined) this.#ports.set(id, port);
    });
    child.on('exit', () => {
      if (this.#processes.get(id) === child) this.#ports.delete(id);
      if (this.#expected.has(child)) return;
      this.#expected.add(child);
      const failure = `${id} (pid ${child.pid ?? '?'}) exited (${child.describeExit()}) without the demo stopping it; its last log: ${lastLog(child)}`;
      this.#failures.push(failure);
      log.line(failure);
      this.#fail(new Error(failure));
    });
    this.#processes.set(id, child);
  }
}

// The user's own PSC_* settings (PSC_TABLES, PSC_LOG_LEVEL, …) must not change the demo's bridges.
function environmentWithoutPsc(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PSC_')));
}

/** The message of the bridge's last log line (pino JSON on stderr), or the raw line. */
function lastLog(child: TsxChild): string {
  const line = child.tail.at(-1);
  if (line === undefined) return '(no output)';
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
    if (typeof parsed.msg === 'string') {
      const cause = parsed.err?.message;
      return typeof cause === 'string' ? `${parsed.msg}: ${cause}` : parsed.msg;
    }
  } catch {
    // Not JSON: a crash trace or tsx's own output.
  }
  return line;
}

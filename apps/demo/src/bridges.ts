// The demo's two bridges: each is `pg-static-cache bridge`, configured by environment as an
// operator would run it. Its stdout says when it started, its role changes and each leadership
// term it begins; the lease in Redis names the leader's LISTEN session. In snapshot mode each
// bridge also runs a reload worker.
import { REPLICA_FALLBACK_REASONS } from '@pg-static-cache/postgres';
import { namesFor, parseLease, type LeaseValue, type Names } from '@pg-static-cache/protocol';
import { scrape, seriesValue } from '@pg-static-cache/test-support/metrics';
import {
  parseJsonLine,
  spawnCli,
  type SpawnedProcess,
} from '@pg-static-cache/test-support/process';
import { waitFor } from '@pg-static-cache/test-support/wait';
import { Redis } from 'ioredis';

/** The bridges' ids, as the lease, their messages and their logs name them. */
export const BRIDGE_IDS = ['bridge-a', 'bridge-b'] as const;

/**
 * Faster than the defaults (lease 3 s, renew 1 s, standby poll 500 ms) so a failover shows within
 * about a second; a reload job whose worker was killed runs again within seconds, not a minute.
 */
const SETTINGS = {
  PSC_LEASE_MS: '2000',
  PSC_RENEW_MS: '500',
  PSC_STANDBY_POLL_MS: '250',
  PSC_HTTP_PORT: '0',
  PSC_JOB_LOCK_MS: '4000',
  PSC_JOB_STALLED_INTERVAL_MS: '2000',
};

/** A leadership term as the bridge that began it announced it on stdout. */
export interface Term {
  readonly bridge: string;
  readonly epoch: number;
  readonly reason: string;
  /** When the demo read the line (`performance.now()`). */
  readonly at: number;
}

/** Where the bridges connect and what they relay. */
export interface BridgeOptions {
  /** The bridge role's URL. */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly channel: string;
  /** `schema.name` of the demo's tables: a resync covers these, not every table on the channel. */
  readonly tables: readonly string[];
  /** Reload jobs and a worker in each bridge (snapshot mode). */
  readonly jobs: boolean;
  /** A second region: the bridges publish to its Redis too (`--region`), and it has a worker. */
  readonly region?: DemoRegion;
}

/** A region besides home: its Redis, and the delayed read replica its worker and apps query. */
export interface DemoRegion {
  readonly name: string;
  readonly redisUrl: string;
  /** The replica's host and port, taken with each role's own URL. */
  readonly replicaUrl: string;
}

/** `url` (a role's URL on the primary) pointed at the replica: same role, same database. */
export function onReplica(url: string, replicaUrl: string): string {
  const at = new URL(url);
  at.host = new URL(replicaUrl).host;
  return at.toString();
}

/** The running bridges, and Redis as an operator sees it. */
export class Bridges {
  readonly names: Names;
  readonly #options: BridgeOptions;
  readonly #redis: Redis;
  /** The region's Redis (same names); the home one without a region. */
  readonly #regionRedis: Redis;
  readonly #procs = new Map<string, SpawnedProcess>();
  /** Processes the demo killed or replaced (their exit is expected). */
  readonly #gone: SpawnedProcess[] = [];

  private constructor(options: BridgeOptions, redis: Redis, regionRedis: Redis) {
    this.#options = options;
    this.#redis = redis;
    this.#regionRedis = regionRedis;
    this.names = namesFor(options.namespace);
  }

  /**
   * Forgets an earlier run's state in the namespace (in the region's Redis too) and starts both
   * bridges, and the region's worker.
   */
  static async start(options: BridgeOptions): Promise<Bridges> {
    const connect = (url: string): Redis => {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      return redis;
    };
    const redis = connect(options.redisUrl);
    const { region } = options;
    const bridges = new Bridges(options, redis, region ? connect(region.redisUrl) : redis);
    await dropNamespace(redis, bridges.names);
    if (region !== undefined) await dropNamespace(bridges.#regionRedis, bridges.names);
    for (const id of BRIDGE_IDS) bridges.#spawn(id);
    // The region's snapshots are built there, from its replica (`pg-static-cache worker`).
    if (region !== undefined && options.jobs) {
      const env = {
        REDIS_URL: region.redisUrl,
        PSC_REPLICA_URL: onReplica(options.databaseUrl, region.replicaUrl),
      };
      bridges.#procs.set(`worker-${region.name}`, spawnCli(['worker'], { env: bridges.#env(env) }));
    }
    return bridges;
  }

  /** Bridge ids with their process ids. */
  get processes(): { readonly id: string; readonly pid: number | undefined }[] {
    return [...this.#procs].map(([id, proc]) => ({ id, pid: proc.child.pid }));
  }

  /** Every term announced so far, in the order the demo read them. */
  terms(): Term[] {
    return [...this.#procs.values(), ...this.#gone]
      .flatMap((proc) =>
        proc.lines.flatMap((line, i) => {
          const value = parseJsonLine(line);
          if (value?.['event'] !== 'term') return [];
          const { bridge, epoch, reason } = value;
          const at = proc.lineTimes[i] ?? Number.NaN;
          return [{ bridge: String(bridge), epoch: Number(epoch), reason: String(reason), at }];
        }),
      )
      .sort((a, b) => a.at - b.at);
  }

  /** The first term with an epoch above `epoch`. */
  async nextTerm(epoch: number, timeoutMs: number): Promise<Term> {
    const find = (): Term | undefined => this.terms().find((t) => t.epoch > epoch);
    await waitFor(
      `a leadership term after epoch ${epoch}`,
      () => {
        this.#checkAlive();
        return find() !== undefined;
      },
      timeoutMs,
    );
    return find() as Term;
  }

  /** The lease: who leads, in which epoch, with which LISTEN session. */
  async leader(): Promise<LeaseValue> {
    const lease = parseLease(await this.#redis.get(this.names.leader));
    if (lease === undefined) throw new Error('no bridge holds the lease');
    return lease;
  }

  /** Resolves once bridge `id` said it stands by. */
  async standby(id: string, timeoutMs: number): Promise<void> {
    const proc = this.#procs.get(id);
    await proc?.waitForLine((line) => /"role":"standby"/.test(line), { timeoutMs });
  }

  /** Whether a reload worker stored a snapshot of every one of `tables` (in every region). */
  async snapshotsStored(): Promise<boolean> {
    const keys = this.#options.tables.map((table) => this.names.snapshot(table));
    const counts = await Promise.all(
      [this.#redis, this.#regionRedis].map((r) => r.exists(...keys)),
    );
    return counts.every((count) => count === keys.length);
  }

  /**
   * What the region's worker says on /metrics: table queries the replica served, and those the
   * primary served instead, by reason. Undefined without a region worker.
   */
  async regionReads(): Promise<
    { readonly replica: number; readonly primary: Readonly<Record<string, number>> } | undefined
  > {
    const { region } = this.#options;
    const worker = region && this.#procs.get(`worker-${region.name}`);
    const http = worker?.lines.map(parseJsonLine).find((l) => l?.['event'] === 'started')?.['http'];
    if (typeof http !== 'string') return undefined;
    const text = await scrape(http);
    const count = (series: string): number => seriesValue(text, series) ?? 0;
    const primary = REPLICA_FALLBACK_REASONS.map((reason) => [
      reason,
      count(`psc_reload_replica_fallbacks_total{reason="${reason}"}`),
    ]);
    return {
      replica: count('psc_reload_replica_reads_total'),
      primary: Object.fromEntries(primary) as Record<string, number>,
    };
  }

  /** SIGKILLs bridge `id`: no goodbye, no lease release; its Postgres sessions die with it. */
  async kill(id: string): Promise<void> {
    const proc = this.#procs.get(id);
    if (proc === undefined) throw new Error(`no bridge ${id}`);
    this.#gone.push(proc);
    this.#procs.delete(id);
    proc.child.kill('SIGKILL');
    await proc.exit;
  }

  /** Starts bridge `id` again; it joins as standby. */
  restart(id: string): void {
    this.#spawn(id);
  }

  /** Stops every bridge (SIGTERM); rejects unless each exited 0, its contract. */
  async close(timeoutMs: number): Promise<void> {
    this.#checkAlive();
    const exits = await Promise.all(
      [...this.#procs].map(
        async ([id, proc]) => [id, await proc.stop('SIGTERM', timeoutMs)] as const,
      ),
    );
    this.#redis.disconnect();
    this.#regionRedis.disconnect();
    const bad = exits.filter(([, exit]) => exit.code !== 0);
    if (bad.length > 0) throw new Error(`bridges did not stop cleanly: ${JSON.stringify(bad)}`);
  }

  // A bridge that exits without the demo killing it is a failure worth stopping for.
  #checkAlive(): void {
    for (const [id, proc] of this.#procs) {
      const exited = proc.child.exitCode ?? proc.child.signalCode;
      if (exited !== null) throw new Error(`${id} exited (${exited}): ${proc.stderr.slice(-500)}`);
    }
  }

  #spawn(id: string): void {
    const { channel, tables, jobs, region } = this.#options;
    const env = this.#env({
      PSC_CHANNEL: channel,
      PSC_BRIDGE_ID: id,
      PSC_TABLES: tables.join(','),
      // Redis mode's apps query Postgres themselves: snapshots would be work nobody reads.
      PSC_JOBS: jobs ? '1' : '0',
      ...(region === undefined ? {} : { PSC_REGIONS: `${region.name}=${region.redisUrl}` }),
    });
    this.#procs.set(id, spawnCli(['bridge'], { env }));
  }

  // The environment of the demo's bridges and workers, with `extra` on top.
  #env(extra: Readonly<Record<string, string>>): Record<string, string | undefined> {
    const { databaseUrl, redisUrl, namespace } = this.#options;
    // The user's own PSC_* settings must not change the demo's bridges.
    const unset = Object.keys(process.env).filter((key) => key.startsWith('PSC_'));
    return {
      ...Object.fromEntries(unset.map((key) => [key, undefined])),
      ...SETTINGS,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      PSC_NAMESPACE: namespace,
      ...extra,
    };
  }
}

/**
 * Deletes what a run left under `namespace`: lease, epoch, status, presence, snapshots and the
 * reload queue (an old queue's deduplication keys could swallow a new run's first jobs).
 */
export async function dropNamespace(redis: Redis, names: Names): Promise<void> {
  const keys = [names.leader, names.epoch, names.status, names.bridges];
  // Namespaces are [A-Za-z0-9_-]: nothing in them is a glob character.
  for (const match of [`${names.namespace}:snapshot*`, `bull:${names.queue}:*`]) {
    for await (const batch of redis.scanStream({ match, count: 500 })) {
      keys.push(...(batch as string[]));
    }
  }
  await redis.del(...keys);
}

/** {@link dropNamespace} with a connection of its own, for tests cleaning up after a run. */
export async function dropDemoNamespace(redisUrl: string, namespace: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    await dropNamespace(redis, namesFor(namespace));
  } finally {
    redis.disconnect();
  }
}

// Bridges as real processes (`node --import tsx apps/bridge/src/main.ts`, or the CLI's
// `pg-static-cache bridge`), configured by environment with short lease and heartbeat timings, and
// who among them leads right now.
import { parseLease, type LeaseValue, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { waitFor } from '../../support/index.ts';
import { spawnCli, spawnNode, type ChildEnv, type SpawnedProcess } from '../../support/process.ts';

const MAIN = 'apps/bridge/src/main.ts';

/** Timings short enough that failover takes well under the 3 s the issue asks for. */
export const FAST_BRIDGE_ENV = Object.freeze({
  PSC_LEASE_MS: '1500',
  PSC_RENEW_MS: '500',
  PSC_STANDBY_POLL_MS: '200',
  PSC_HEARTBEAT_MS: '500',
  PSC_LISTEN_HEARTBEAT_INTERVAL_MS: '1000',
  PSC_LISTEN_HEARTBEAT_TIMEOUT_MS: '1000',
  PSC_HTTP_PORT: '0',
  PSC_LOG_LEVEL: 'info',
  // Reload jobs and snapshots serve snapshot mode; redis-mode apps load from Postgres, and the
  // workers' queries would only compete for the two cores the timing requirements are checked on.
  PSC_JOBS: '0',
  PSC_WORKER: '0',
});

/** Where the bridges connect and what they follow. */
export interface BridgeFleetOptions {
  /** With the scenario's schema on the search_path, so the trigger function is found. */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly names: Names;
  readonly channel: string;
  /** Settings over {@link FAST_BRIDGE_ENV}, e.g. `PSC_JOBS: '1'` for snapshot-mode apps. */
  readonly env?: ChildEnv;
  /** Runs `pg-static-cache bridge` instead of the bridge's own entry point. @default false */
  readonly cli?: boolean;
}

/** The leader: its process, its id and the lease it holds. */
export interface Leader {
  readonly id: string;
  readonly proc: SpawnedProcess;
  readonly lease: LeaseValue;
}

/** Bridge processes of one namespace; disposing kills them (continuing frozen ones) and clears its keys. */
export interface BridgeFleet extends AsyncDisposable {
  /** Starts a bridge with id `id`; resolves once it says "bridge started". */
  start(id: string): Promise<SpawnedProcess>;
  /** The lease in Redis now, if any. */
  lease(): Promise<LeaseValue | undefined>;
  /** The epoch counter in Redis now (0 when absent). */
  epochCounter(): Promise<number>;
  /** Waits until a lease names one of our processes that still runs, and returns that leader. */
  leader(timeoutMs?: number): Promise<Leader>;
  /** Last lines of every bridge's stderr, for failure messages. */
  describe(): string;
}

/** Where a bridge announced the given role change (pino JSON on stderr). */
export const roleChangedTo =
  (role: string) =>
  (line: string): boolean =>
    line.includes('"msg":"role changed"') && line.includes(`"role":"${role}"`);

/** Spawns no process yet; see {@link BridgeFleet.start}. */
export function createBridgeFleet(options: BridgeFleetOptions): BridgeFleet {
  const { names } = options;
  const processes = new Map<string, SpawnedProcess>();
  const redis = new Redis(options.redisUrl, {
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 50, 500),
  });
  redis.on('error', () => undefined);
  const lease = async () => parseLease(await redis.get(names.leader));
  return {
    async start(id) {
      const env = {
        ...FAST_BRIDGE_ENV,
        ...options.env,
        DATABASE_URL: options.databaseUrl,
        REDIS_URL: options.redisUrl,
        PSC_NAMESPACE: names.namespace,
        PSC_CHANNEL: options.channel,
        PSC_BRIDGE_ID: id,
      };
      const proc = options.cli === true ? spawnCli(['bridge'], { env }) : spawnNode(MAIN, [], env);
      processes.set(id, proc);
      await proc.waitForLine((l) => l.includes('"msg":"bridge started"'), { stream: 'stderr' });
      return proc;
    },
    lease,
    async epochCounter() {
      return Number((await redis.get(names.epoch)) ?? 0);
    },
    async leader(timeoutMs = 10_000) {
      let found: Leader | undefined;
      await waitFor(
        'a lease held by one of the bridges',
        async () => {
          const value = await lease().catch(() => undefined);
          const proc = value === undefined ? undefined : processes.get(value.bridge);
          // A killed leader's lease outlives it until it expires.
          const running = proc?.child.exitCode === null && proc.child.signalCode === null;
          if (value !== undefined && proc !== undefined && running)
            found = { id: value.bridge, proc, lease: value };
          return found !== undefined;
        },
        timeoutMs,
      );
      if (found === undefined) throw new Error('no leader');
      return found;
    },
    describe() {
      return [...processes]
        .map(
          ([id, proc]) => `--- bridge ${id} stderr ---\n${proc.stderrLines.slice(-15).join('\n')}`,
        )
        .join('\n');
    },
    async [Symbol.asyncDispose]() {
      for (const proc of processes.values()) proc.child.kill('SIGCONT');
      await Promise.all([...processes.values()].map((proc) => proc.stop('SIGKILL')));
      await redis
        .del(names.leader, names.epoch, names.status, names.bridges)
        .catch(() => undefined);
      redis.disconnect();
    },
  };
}

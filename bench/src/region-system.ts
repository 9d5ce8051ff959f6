// Home and a region b, running for one run of the regions step: one bridge (its default in-process
// worker serving home) publishing to the home Redis and, with `--region b=URL`, to region b's;
// region b's own `pg-static-cache worker --replica`; and a `watch --events` app per place and mode,
// each on its place's Redis (region b's with `--replica`).
import { BridgeProcess } from './bridge-process.ts';
import { startFleet } from './fleet.ts';
import type { SubscriberProcess } from './subscriber-process.ts';
import { watchCommand, type SubscriberCommand } from './systems.ts';
import { BENCH_TABLE, type BenchUrls } from './workload.ts';
import { WorkerProcess } from './worker-process.ts';

/** Region b: its Redis and the bench database on its read replica. */
export interface RegionB {
  readonly redisUrl: string;
  readonly replicaUrl: string;
}

/** The apps of both places: what each is, and which Redis it subscribes to. */
function appCommands(urls: BenchUrls, b: RegionB): { command: SubscriberCommand; url: string }[] {
  const replica = ['--events', '--replica', b.replicaUrl];
  return [
    { command: watchCommand('home · redis', 'redis', ['--events']), url: urls.redisUrl },
    { command: watchCommand('home · snapshot', 'snapshot', ['--events']), url: urls.redisUrl },
    { command: watchCommand('b · redis --replica', 'redis', replica), url: b.redisUrl },
    { command: watchCommand('b · snapshot --replica', 'snapshot', replica), url: b.redisUrl },
  ];
}

/** The processes of one run; `stop()` ends every one of them. */
export class RegionSystem {
  readonly apps: readonly SubscriberProcess[];
  readonly worker: WorkerProcess;
  readonly #bridge: BridgeProcess;

  private constructor(apps: SubscriberProcess[], worker: WorkerProcess, bridge: BridgeProcess) {
    this.apps = apps;
    this.worker = worker;
    this.#bridge = bridge;
  }

  /** Starts the bridge (resolving once it leads), region b's worker, then the four apps. */
  static async start(urls: BenchUrls, b: RegionB): Promise<RegionSystem> {
    const bridge = await BridgeProcess.start(urls, undefined, { PSC_REGIONS: `b=${b.redisUrl}` });
    let worker: WorkerProcess | undefined;
    const apps: SubscriberProcess[] = [];
    try {
      const bUrls = { databaseUrl: urls.databaseUrl, redisUrl: b.redisUrl };
      worker = await WorkerProcess.start(bUrls, b.replicaUrl);
      const members = appCommands(urls, b).map(({ command, url }) => ({
        command,
        count: 1,
        options: { databaseUrl: urls.databaseUrl, redisUrl: url, table: BENCH_TABLE },
      }));
      await startFleet(members, apps);
      return new RegionSystem(apps, worker, bridge);
    } catch (error) {
      await stopAll(apps, worker, bridge);
      throw error;
    }
  }

  /** Stops the apps, then the worker, then the bridge (so no app sees its bridge go silent). */
  async stop(): Promise<void> {
    await stopAll(this.apps, this.worker, this.#bridge);
  }
}

async function stopAll(
  apps: readonly SubscriberProcess[],
  worker: WorkerProcess | undefined,
  bridge: BridgeProcess,
): Promise<void> {
  try {
    await Promise.all(apps.map((app) => app.stop()));
    await worker?.stop();
  } finally {
    await bridge.stop();
  }
}

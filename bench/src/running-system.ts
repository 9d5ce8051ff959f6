// One system under test, running: its subscriber process and, for the bridged system, the bridge
// process it follows. Latency runs and bursts start and stop systems through this.
import { join } from 'node:path';
import { BridgeProcess } from './bridge-process.ts';
import { SubscriberProcess } from './subscriber-process.ts';
import type { SubscriberCommand } from './systems.ts';
import { BENCH_TABLE, type BenchUrls } from './workload.ts';

/** How to start a system beyond its command (all optional). */
export interface SystemOptions {
  /** Probe both processes for the bridge profile, writing their stamps here. */
  readonly probeDir?: string;
  /** The table the subscriber holds. @default BENCH_TABLE */
  readonly table?: string;
  readonly bridgeEnv?: Readonly<Record<string, string>>;
}

/** A started system: report lines come from `subscriber`; `stop()` ends every process. */
export class RunningSystem {
  readonly subscriber: SubscriberProcess;
  readonly bridge: BridgeProcess | undefined;

  private constructor(subscriber: SubscriberProcess, bridge: BridgeProcess | undefined) {
    this.subscriber = subscriber;
    this.bridge = bridge;
  }

  /**
   * Starts the bridge first if the system needs one (resolving once it leads), then the
   * subscriber. With `probeDir`, both are probed for the bridge profile: `bridge.jsonl` and
   * `subscriber.jsonl` appear there once they have stopped. `bridgeEnv` adds to the bridge's
   * environment.
   */
  static async start(
    command: SubscriberCommand,
    urls: BenchUrls,
    { probeDir, table = BENCH_TABLE, bridgeEnv = {} }: SystemOptions = {},
  ): Promise<RunningSystem> {
    const probe = (name: string): string | undefined =>
      probeDir === undefined ? undefined : join(probeDir, `${name}.jsonl`);
    const bridge =
      command.bridged === true
        ? await BridgeProcess.start(urls, probe('bridge'), bridgeEnv)
        : undefined;
    try {
      const probeFile = probe('subscriber');
      const subscriber = await SubscriberProcess.start(command, {
        ...urls,
        table,
        ...(probeFile === undefined ? {} : { probeFile }),
      });
      return new RunningSystem(subscriber, bridge);
    } catch (error) {
      await bridge?.stop();
      throw error;
    }
  }

  /** Stops the subscriber, then the bridge (so the subscriber never sees its bridge go silent). */
  async stop(): Promise<void> {
    try {
      await this.subscriber.stop();
    } finally {
      await this.bridge?.stop();
    }
  }
}

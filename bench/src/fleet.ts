// Many subscriber processes of one kind, started at once but gated: each prints `armed` once its
// code is loaded and starts its subscriber when the driver opens its gate, so all first loads
// happen at the same moment once every process is running.
import {
  SubscriberProcess,
  type SubscriberCommand,
  type SubscriberEnv,
} from './subscriber-process.ts';

/** Spawns `count` gated processes into `into` (so the caller can stop them whatever happens). */
export function spawnFleet(
  command: SubscriberCommand,
  count: number,
  env: SubscriberEnv,
  into: SubscriberProcess[],
): void {
  for (let i = 0; i < count; i += 1) {
    into.push(SubscriberProcess.spawn(command, { ...env, PSC_BENCH_GATE: 'stdin' }));
  }
}

/** Waits until every process is armed, opens all gates, and waits until every one has loaded. */
export async function loadFleet(subscribers: readonly SubscriberProcess[]): Promise<void> {
  await Promise.all(subscribers.map((s) => s.ready('armed')));
  for (const subscriber of subscribers) subscriber.go();
  await Promise.all(subscribers.map((s) => s.ready()));
}

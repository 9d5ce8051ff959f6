// Shared by the bridge's own tests: a schema with a triggered table, a namespace, a recorder of
// everything on the events and control channels, and bridges that are closed on dispose.
import { installTriggers, type ResolvedTable } from '@pg-static-cache/postgres';
import {
  namesFor,
  parseControlMessage,
  parseMessage,
  type ControlMessage,
  type Message,
  type Names,
} from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import {
  createTestSchema,
  redisUrl,
  uniqueName,
  waitFor,
  type TestSchema,
} from '../../../test/support/index.ts';
import { startBridge, type Bridge } from './bridge.ts';
import { LOG_LEVELS, type BridgeConfigInput } from './config.ts';
import type { LeaderMessage } from './leader-term.ts';

/** A test's world: one schema, one channel, one namespace. */
export interface Harness extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly channel: string;
  readonly names: Names;
  /** `items` (id int primary key, label text), with the trigger installed. */
  readonly table: ResolvedTable;
  /** Every valid message on the events channel, in arrival order. */
  readonly events: Message[];
  /** Every valid message on the control channel, in arrival order. */
  readonly control: ControlMessage[];
  /** A plain command connection for the test's own Redis reads and writes. */
  readonly redis: Redis;
  /** Starts a bridge on this world (closed on dispose); `overrides` go into its config. */
  start(overrides?: Partial<BridgeConfigInput>): Promise<Bridge>;
  /** The first recorded event matching `predicate`, waiting up to `timeoutMs`. */
  waitForEvent(
    what: string,
    predicate: (m: Message) => boolean,
    timeoutMs?: number,
  ): Promise<Message>;
}

const testLogLevel = LOG_LEVELS.find((l) => l === process.env['PSC_TEST_LOG']) ?? 'silent';

/** Creates a harness; `await using` tears it all down (bridges, connections, schema, Redis keys). */
export async function createHarness(prefix = 'psc_bridge'): Promise<Harness> {
  const schema = await createTestSchema(prefix);
  const channel = uniqueName(prefix);
  const names = namesFor(uniqueName('ns'));
  const functionName = `${schema.schema}.notify`;
  await schema.pool.query('CREATE TABLE items (id int PRIMARY KEY, label text)');
  const [table] = await installTriggers(schema.pool, ['items'], { channel, functionName });
  if (table === undefined) throw new Error('installTriggers returned no table');

  const events: Message[] = [];
  const control: ControlMessage[] = [];
  const subscriber = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  subscriber.on('message', (from: string, text: string) => {
    if (from === names.events) {
      const parsed = parseMessage(text);
      if (parsed.ok) events.push(parsed.message);
    } else {
      const message = parseControlMessage(text);
      if (message !== undefined) control.push(message);
    }
  });
  await subscriber.subscribe(names.events, names.control);
  const bridges: Bridge[] = [];

  return {
    schema,
    channel,
    names,
    table,
    events,
    control,
    redis,
    async start(overrides = {}) {
      const bridge = await startBridge({
        databaseUrl: schema.url,
        redisUrl: redisUrl(),
        namespace: names.namespace,
        channel,
        functionName,
        logLevel: testLogLevel,
        // Several bridges per test, and suites in parallel: never the fixed default port.
        httpPort: 0,
        // These tests follow the leader's own messages; reload workers' `snapshot` messages would
        // interleave with them (the reload jobs have their own tests, which turn this on).
        jobs: false,
        ...overrides,
      });
      bridges.push(bridge);
      return bridge;
    },
    async waitForEvent(what, predicate, timeoutMs = 10_000) {
      await waitFor(what, () => events.some(predicate), timeoutMs);
      const found = events.find(predicate);
      if (found === undefined) throw new Error(`no ${what}`);
      return found;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(bridges.map((b) => b.close()));
      subscriber.disconnect();
      const { leader, epoch, status, control: controlChannel, bridges: presence } = names;
      await redis.del(leader, epoch, status, controlChannel, presence);
      redis.disconnect();
      await schema[Symbol.asyncDispose]();
    },
  };
}

/** The value of one series in a bridge's /metrics text, e.g. `psc_bridge_fencings_total`. */
export async function metricValue(bridge: Bridge, series: string): Promise<number> {
  const text = await bridge.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series} in metrics`);
  return Number(line.slice(series.length + 1));
}

/** Messages of one leadership term (bridge and epoch), in arrival order. */
export function termMessages(
  events: readonly Message[],
  bridge: string,
  epoch: number,
): LeaderMessage[] {
  return events.filter(
    (m): m is LeaderMessage => m.type !== 'snapshot' && m.bridge === bridge && m.epoch === epoch,
  );
}

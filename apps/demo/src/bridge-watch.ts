// The demo's view of its bridges, through Redis alone (what any operator sees): the lease says who
// leads, each leadership term opens with a resync on the events channel, and every bridge
// announces itself in the presence hash.
import { EventEmitter } from 'node:events';
import {
  namesFor,
  parseLease,
  parseMessage,
  parsePresenceEntry,
  type LeaseValue,
  type Names,
  type PresenceEntry,
} from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { preciseNow } from './app-events.ts';
import { waitUntil } from './waiting.ts';

/** The start of a leadership term, as the term's first message (a resync) announced it. */
export interface Term {
  readonly bridge: string;
  readonly epoch: number;
  readonly reason: 'takeover' | 'reconnect';
  /** When the demo received it (`preciseNow`). */
  readonly at: number;
}

/** Typed events of {@link BridgeWatch}. */
interface BridgeWatchEvents {
  term: [Term];
}

/** Subscribed to `<namespace>:events` from `open()` on, so no term's opening resync is missed. */
export class BridgeWatch extends EventEmitter<BridgeWatchEvents> {
  readonly names: Names;
  /** Every term seen, in order. */
  readonly terms: Term[] = [];
  readonly #redis: Redis;
  readonly #subscriber: Redis;

  private constructor(redisUrl: string, namespace: string) {
    super();
    this.names = namesFor(namespace);
    // One failed command must not hang the demo: fail fast, the demo's deadlines do the rest.
    this.#redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.#subscriber = this.#redis.duplicate();
    for (const connection of [this.#redis, this.#subscriber])
      connection.on('error', () => undefined);
    this.#subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.names.events) return;
      const parsed = parseMessage(text);
      if (!parsed.ok || parsed.message.type !== 'resync') return;
      const { bridge, epoch, reason } = parsed.message;
      if (reason !== 'takeover' && reason !== 'reconnect') return;
      const term: Term = { bridge, epoch, reason, at: preciseNow() };
      this.terms.push(term);
      this.emit('term', term);
    });
  }

  /** Connects and subscribes; resolves once the subscription is acknowledged. */
  static async open(redisUrl: string, namespace: string): Promise<BridgeWatch> {
    const watch = new BridgeWatch(redisUrl, namespace);
    try {
      await Promise.all([watch.#redis.connect(), watch.#subscriber.connect()]);
      await watch.#subscriber.subscribe(watch.names.events);
    } catch (error) {
      watch.close();
      throw error;
    }
    return watch;
  }

  /** The leader's lease, if any bridge leads right now. */
  async lease(): Promise<LeaseValue | undefined> {
    return parseLease(await this.#redis.get(this.names.leader));
  }

  /** Every bridge's entry in the presence hash (field: bridge id). */
  async presence(): Promise<Map<string, PresenceEntry>> {
    const entries = await this.#redis.hgetall(this.names.bridges);
    const parsed = Object.entries(entries).flatMap(([id, text]) => {
      const entry = parsePresenceEntry(text);
      return entry === undefined ? [] : [[id, entry] as const];
    });
    return new Map(parsed);
  }

  /**
   * Forgets an earlier run's lease, epoch counter, status and presence, its snapshots (with their
   * version counters) and its reload queue, as the schema is recreated: an old snapshot describes
   * a dropped table, and an old queue's deduplication keys could swallow this run's first jobs.
   */
  async reset(): Promise<void> {
    const { leader, epoch, status, bridges, namespace, queue } = this.names;
    // Namespaces are [A-Za-z0-9_-]: nothing in them is a glob character.
    const patterns = [`${namespace}:snapshot*`, `bull:${queue}:*`];
    const keys = [leader, epoch, status, bridges];
    for (const match of patterns) {
      for await (const batch of this.#redis.scanStream({ match, count: 500 })) {
        keys.push(...(batch as string[]));
      }
    }
    await this.#redis.del(...keys);
  }

  /** Whether a reload worker has stored a snapshot of every one of `tables` (`schema.name`). */
  async snapshotsStored(tables: readonly string[]): Promise<boolean> {
    const stored = await this.#redis.exists(...tables.map((table) => this.names.snapshot(table)));
    return stored === tables.length;
  }

  /** The first term (among those seen since `from`, an index into {@link terms}) that `check` accepts. */
  async waitTerm(
    what: string,
    check: (term: Term) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<Term> {
    const found = (): Term | undefined => this.terms.slice(from).find(check);
    await waitUntil(
      `no ${what} within ${timeoutMs} ms`,
      () => found() !== undefined,
      timeoutMs,
      (recheck) => {
        this.on('term', recheck);
        return () => this.off('term', recheck);
      },
    );
    return found() as Term;
  }

  /** Closes both connections. Safe twice. */
  close(): void {
    this.#subscriber.disconnect();
    this.#redis.disconnect();
  }
}

/** Deletes what a demo run left in Redis under `namespace` (see {@link BridgeWatch.reset}). */
export async function dropDemoNamespace(redisUrl: string, namespace: string): Promise<void> {
  const watch = await BridgeWatch.open(redisUrl, namespace);
  try {
    await watch.reset();
  } finally {
    watch.close();
  }
}

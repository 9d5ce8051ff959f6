import { randomBytes } from 'node:crypto';
import {
  parseSnapshot,
  serializeSnapshot,
  Signer,
  type Names,
  type Snapshot,
} from '@pg-static-cache/protocol';
import type { RedisClient } from '../connections/redis-connection.ts';
import { LuaScript } from '../connections/lua-script.ts';

// INCR, but never at or below the stored version: if the counter alone was lost (evicted, deleted
// by hand), a plain INCR would restart at 1 and every later snapshot would be refused.
// A counter that starts again (FLUSHALL, eviction, a new Redis) also starts a new generation
// (ARGV[1], random): clients that held version 500 of the old one must not take version 1 of the
// new one for old news. Returns {version, generation}.
const NEXT_VERSION = new LuaScript(
  `local version = redis.call('INCR', KEYS[1])
local stored = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if version <= stored then
  version = stored + 1
  redis.call('SET', KEYS[1], version)
end
local generation = redis.call('GET', KEYS[3])
if version == 1 or not generation then
  generation = ARGV[1]
  redis.call('SET', KEYS[3], generation)
end
return {version, generation}`,
  3,
);

// Writes the snapshot only over an older one: a job that finishes late never replaces a newer
// snapshot. Returns {1, version} when written, {0, stored version} when refused, and {2, 0} when
// ARGV[3] is '1' and the reload queue (its meta hash, KEYS[3]) is paused: someone paused reloads,
// so the leader's inline ones must not store either. ARGV[4], when present, is the channel its
// messages (ARGV[5] on) are published on once it is written: in the same round trip, and never for
// a refused snapshot. In a cluster they go out by SPUBLISH (the channel shares the snapshot keys'
// hash slot, see namesFor); the channel is an ARGV, as in the lease's fenced publish, because Redis
// checks KEYS against a least-privilege user's key patterns.
const storeIfNewer = (command: 'PUBLISH' | 'SPUBLISH'): LuaScript =>
  new LuaScript(
    `if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[3], 'paused') == 1 then return {2, 0} end
local stored = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local version = tonumber(ARGV[1])
if version <= stored then return {0, stored} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
for i = 5, #ARGV do redis.call('${command}', ARGV[4], ARGV[i]) end
return {1, version}`,
    3,
  );
const STORE_IF_NEWER = { single: storeIfNewer('PUBLISH'), cluster: storeIfNewer('SPUBLISH') };

/** A version handed out by {@link SnapshotStore.nextVersion}, with the counter's generation. */
export interface SnapshotVersion {
  readonly version: number;
  readonly generation: string;
}

/** Options of {@link SnapshotStore.store}. */
export interface StoreOptions {
  /** Published on the events channel, in order, once the snapshot is stored. */
  readonly messages?: readonly string[];
  /** The reload queue's meta key (BullMQ's): the snapshot is not stored while it is paused. */
  readonly unlessPaused?: string | undefined;
}

/** The outcome of {@link SnapshotStore.store}. */
export type StoreOutcome =
  | { readonly stored: true; readonly bytes: number }
  | { readonly stored: false; readonly current: number }
  | { readonly stored: false; readonly paused: true };

function pair(reply: unknown): [number, number] {
  if (Array.isArray(reply) && typeof reply[0] === 'number' && typeof reply[1] === 'number') {
    return [reply[0], reply[1]];
  }
  throw new TypeError(`unexpected reply from the snapshot script: ${JSON.stringify(reply)}`);
}

/** Table snapshots in Redis, with versions that only move forward; signed when `signer` has keys. */
export class SnapshotStore {
  readonly #redis: RedisClient;
  readonly #names: Names;
  readonly #signer: Signer;

  constructor(redis: RedisClient, names: Names, signer: Signer = new Signer()) {
    this.#redis = redis;
    this.#names = names;
    this.#signer = signer;
  }

  /**
   * A version for a snapshot about to be taken of `table`, higher than every version handed out
   * before. Take it BEFORE querying: then the highest version is also the latest query to start,
   * and it sees every commit announced before it began.
   */
  async nextVersion(table: string): Promise<SnapshotVersion> {
    const { counter, stored, generation } = this.#names.snapshotKeys(table);
    const fresh = randomBytes(12).toString('base64url');
    const reply = await NEXT_VERSION.run(this.#redis, [counter, stored, generation], [fresh]);
    if (
      Array.isArray(reply) &&
      typeof reply[0] === 'number' &&
      (typeof reply[1] === 'string' || Buffer.isBuffer(reply[1]))
    ) {
      return { version: reply[0], generation: String(reply[1]) };
    }
    throw new TypeError(`unexpected reply from the version script: ${JSON.stringify(reply)}`);
  }

  /**
   * Stores `snapshot` unless a snapshot of the same or a newer version is stored already, or
   * `unlessPaused` is set and the reload queue is paused; once it is stored, publishes `messages`
   * (serialized, in order) on the events channel.
   */
  async store(snapshot: Snapshot, options: StoreOptions = {}): Promise<StoreOutcome> {
    const keys = this.#names.snapshotKeys(snapshot.table);
    const text = serializeSnapshot(snapshot, this.#signer);
    const { messages = [], unlessPaused } = options;
    const announce = messages.length === 0 ? [] : [this.#names.events, ...messages];
    const [outcome, version] = pair(
      await STORE_IF_NEWER[this.#names.layout].run(
        this.#redis,
        // Without a queue to look at, KEYS[3] repeats a key of the same hash slot; it is not read.
        [keys.snapshot, keys.stored, unlessPaused ?? keys.stored],
        [snapshot.version, text, unlessPaused === undefined ? '0' : '1', ...announce],
      ),
    );
    if (outcome === 2) return { stored: false, paused: true };
    return outcome === 1
      ? { stored: true, bytes: Buffer.byteLength(text) }
      : { stored: false, current: version };
  }

  /** The stored snapshot of `table`, verified; undefined when there is none or it does not verify. */
  async read(table: string): Promise<Snapshot | undefined> {
    const raw = await this.#redis.getBuffer(this.#names.snapshot(table));
    if (raw === null) return undefined;
    const parsed = parseSnapshot(raw, this.#signer);
    return parsed.ok ? parsed.snapshot : undefined;
  }

  /** Deletes `table`'s snapshot and its versions (tests, or a table no longer cached). */
  async delete(table: string): Promise<void> {
    const { snapshot, counter, stored, generation } = this.#names.snapshotKeys(table);
    await this.#redis.del(snapshot, counter, stored, generation);
  }
}

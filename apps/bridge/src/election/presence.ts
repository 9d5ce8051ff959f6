import { hostname } from 'node:os';
import {
  serializePresenceEntry,
  type BridgeRole,
  type Names,
  type PresenceEntry,
} from '@pg-static-cache/protocol';
import type { RedisClient } from '../connections/redis-connection.ts';
import { LuaScript } from '../connections/lua-script.ts';

// KEYS: bridges hash. ARGV: bridge id, entry JSON, now, staleMs. Redis 7.0 has no per-field TTL,
// so each writer also removes entries not refreshed within staleMs (bridges that died without
// saying goodbye), and the whole hash expires when no bridge is left to refresh it.
const PRESENCE = new LuaScript(
  `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local entries = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[3])
local stale = tonumber(ARGV[4])
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if not ok or type(entry) ~= 'table' or type(entry.lastSeenAt) ~= 'number' or now - entry.lastSeenAt > stale then
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`,
  1,
);

/** Keeps this bridge's entry in the bridges hash (`names.bridges`) fresh. */
export class Presence {
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #bridge: string;
  readonly #staleMs: number;
  readonly #host = hostname();

  constructor(redis: RedisClient, names: Names, bridge: string, staleMs: number) {
    this.#redis = redis;
    this.#key = names.bridges;
    this.#bridge = bridge;
    this.#staleMs = staleMs;
  }

  /** Writes (and refreshes) this bridge's entry. */
  async write(role: BridgeRole, epoch?: number): Promise<void> {
    const entry: PresenceEntry = {
      role,
      pid: process.pid,
      host: this.#host,
      lastSeenAt: Date.now(),
      ...(epoch === undefined ? {} : { epoch }),
    };
    await PRESENCE.run(
      this.#redis,
      [this.#key],
      [this.#bridge, serializePresenceEntry(entry), entry.lastSeenAt, this.#staleMs],
    );
  }

  /** Removes this bridge's entry (on close). */
  async remove(): Promise<void> {
    await this.#redis.hdel(this.#key, this.#bridge);
  }
}

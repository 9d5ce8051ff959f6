import {
  leaseTermPrefix,
  serializeLease,
  type LeaseValue,
  type Names,
} from '@pg-static-cache/protocol';
import type { RedisClient } from '../connections/redis-connection.ts';
import { LuaScript } from '../connections/lua-script.ts';

// The fence compares everything but renewedAt: the term's prefix `{"bridge":…,"epoch":…,"backendPid":…,`
// (leaseTermPrefix) is exact JSON of this term, so no other term (epoch) and no other bridge can
// match it, while a renewal that changed renewedAt cannot make our own publishes miss.
const SAME_TERM = 'string.sub(lease, 1, #ARGV[1]) == ARGV[1]';

// KEYS: epoch. ARGV: floor. A Redis restart loses the counter; the floor (last epoch we know + 1)
// keeps epochs rising, or clients would ignore the new leader as older than the one they saw.
const NEXT_EPOCH = new LuaScript(
  `local e = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if e < floor then
  e = floor
  redis.call('SET', KEYS[1], e)
end
return e`,
  1,
);

// KEYS: lease, epoch. ARGV: prefix, value, leaseMs, epoch. Absent (Redis restarted, or we were
// late) counts as ours: we still hold the Postgres lock, which is the real authority; the lease
// only fences. The epoch counter is raised to ours for the same restart reason.
const RENEW = new LuaScript(
  `local lease = redis.call('GET', KEYS[1])
if lease and not (${SAME_TERM}) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local known = tonumber(redis.call('GET', KEYS[2]) or '0')
if known == nil or known < tonumber(ARGV[4]) then redis.call('SET', KEYS[2], ARGV[4]) end
if lease then return 1 end
return 2`,
  2,
);

// KEYS: lease, status hash. ARGV: prefix, channel, message, then field/value pairs for the status
// hash. Publishing and the status update happen only while the lease is this term's: -1 when the
// lease is absent (Redis restarted: the next renewal recreates it), -2 when it is another's. The
// channel is an ARGV, not a KEY: Redis checks KEYS against the user's key patterns, and a channel
// is no key (a least-privilege bridge user needs no key access named like its channel).
// In a cluster the message goes out by SPUBLISH: the channel shares the lease's hash slot (see
// namesFor), so the script may publish on it, and only that shard's subscribers receive it.
const fencedPublish = (command: 'PUBLISH' | 'SPUBLISH'): LuaScript =>
  new LuaScript(
    `local lease = redis.call('GET', KEYS[1])
if not lease then return -1 end
if not (${SAME_TERM}) then return -2 end
local receivers = redis.call('${command}', ARGV[2], ARGV[3])
if #ARGV > 3 then redis.call('HSET', KEYS[2], unpack(ARGV, 4)) end
return receivers`,
    2,
  );
const FENCED_PUBLISH = { single: fencedPublish('PUBLISH'), cluster: fencedPublish('SPUBLISH') };

// KEYS: lease, status hash. ARGV: prefix, then field/value pairs.
const FENCED_STATUS = new LuaScript(
  `local lease = redis.call('GET', KEYS[1])
if not lease or not (${SAME_TERM}) then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1`,
  2,
);

// KEYS: lease. ARGV: prefix.
const RELEASE = new LuaScript(
  `local lease = redis.call('GET', KEYS[1])
if lease and ${SAME_TERM} then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

/** The next leader epoch: INCR of `names.epoch`, but never below `floor`. */
export async function nextEpoch(redis: RedisClient, names: Names, floor: number): Promise<number> {
  return Number(await NEXT_EPOCH.run(redis, [names.epoch], [floor]));
}

/** What a fenced publish did: only `published` went out. */
export type PublishResult = 'published' | 'lease-absent' | 'lease-taken';

/** What a renewal found. */
export type RenewResult = 'renewed' | 'recreated' | 'lost';

/** The lease of one leadership term, and the fence every publish of the term goes through. */
export class TermLease {
  readonly #redis: RedisClient;
  readonly #names: Names;
  readonly #identity: Omit<LeaseValue, 'renewedAt'>;
  readonly #prefix: string;
  readonly #leaseMs: number;

  constructor(
    redis: RedisClient,
    names: Names,
    identity: Omit<LeaseValue, 'renewedAt'>,
    leaseMs: number,
  ) {
    this.#redis = redis;
    this.#names = names;
    this.#identity = Object.freeze({ ...identity });
    this.#leaseMs = leaseMs;
    this.#prefix = leaseTermPrefix(identity);
  }

  #value(renewedAt: number): string {
    return serializeLease({ ...this.#identity, renewedAt });
  }

  /** Takes the lease whoever held it: called only while holding the Postgres leader lock. */
  async claim(): Promise<void> {
    await this.#redis.set(this.#names.leader, this.#value(Date.now()), 'PX', this.#leaseMs);
  }

  /** Extends the lease if it is still this term's (or absent), and raises the epoch counter to ours. */
  async renew(): Promise<RenewResult> {
    const result = await RENEW.run(
      this.#redis,
      [this.#names.leader, this.#names.epoch],
      [this.#prefix, this.#value(Date.now()), this.#leaseMs, this.#identity.epoch],
    );
    return result === 0 ? 'lost' : result === 2 ? 'recreated' : 'renewed';
  }

  /** Publishes `text` on `channel` (and sets status fields) only while the lease is ours. */
  async publish(
    channel: string,
    text: string,
    status: readonly (readonly [string, string])[] = [],
  ): Promise<PublishResult> {
    const result = await FENCED_PUBLISH[this.#names.layout].run(
      this.#redis,
      [this.#names.leader, this.#names.status],
      [this.#prefix, channel, text, ...status.flat()],
    );
    return result === -1 ? 'lease-absent' : result === -2 ? 'lease-taken' : 'published';
  }

  /** Sets fields of the status hash only while the lease is ours; false when fenced. */
  async setStatus(status: readonly (readonly [string, string])[]): Promise<boolean> {
    if (status.length === 0) return true;
    const result = await FENCED_STATUS.run(
      this.#redis,
      [this.#names.leader, this.#names.status],
      [this.#prefix, ...status.flat()],
    );
    return result === 1;
  }

  /** Deletes the lease if it is still this term's, so a standby need not wait for it to expire. */
  async release(): Promise<boolean> {
    return (await RELEASE.run(this.#redis, [this.#names.leader], [this.#prefix])) === 1;
  }
}

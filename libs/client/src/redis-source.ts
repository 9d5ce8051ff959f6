import { EventEmitter } from 'node:events';
import { backoffDelay, type BackoffOptions } from '@pg-static-cache/postgres';
import {
  isWorkerMessage,
  parseMessage,
  Signer,
  type Message,
  type Names,
  type WorkerMessage,
} from '@pg-static-cache/protocol';
import { ClientError, toError } from './errors.ts';
import type {
  InvalidationSource,
  ResyncCause,
  SourceEvents,
  SubscriberStatus,
} from './invalidation-source.ts';
import { LeaderSequence } from './leader-sequence.ts';
import {
  closeRedis,
  namesIn,
  redisConnection,
  type OurRedisOptions,
  type RedisClient,
  type RedisOption,
} from './redis-connection.ts';
import { rejectRenamedOptions } from './renamed-options.ts';

/** Three of the bridge's 2 s heartbeats: one late or lost heartbeat is not yet silence. */
export const DEFAULT_BRIDGE_SILENCE_MS = 6_000;

/** Settings of redis mode: the bridge's messages on `<namespace>:events`. */
export interface RedisSourceOptions {
  /** URL, ioredis options, or the app's own instance (duplicated for the subscription, never closed by us). */
  readonly redis: RedisOption;
  /** Namespace of the deployment's channel and keys. @default 'psc' */
  readonly namespace?: string;
  /**
   * Silence from the leader (no valid, new message of its epoch) longer than this makes the source
   * `reconnecting`, since events may be lost. @default 6000
   */
  readonly bridgeSilenceMs?: number;
  /** Reconnect delays. @default { baseMs: 100, capMs: 5000 } */
  readonly backoff?: BackoffOptions;
  /** Verifies messages; with keys, unsigned and badly signed ones are dropped. @default no keys */
  readonly signer?: Signer;
}

/** The dedicated subscriber connection; our settings win over the app's. */
function subscriberConnection(redis: RedisOption, backoff?: BackoffOptions): RedisClient {
  const ours: OurRedisOptions = {
    lazyConnect: true,
    // Pub/sub payloads are plain strings in every mapping; pinned so the app's choice cannot matter.
    replyMapping: 'legacy',
    // ioredis resubscribes silently and says `ready` before SUBSCRIBE is acknowledged; we subscribe
    // ourselves on every `ready`, so we know when events flow again and that some may be lost.
    autoResubscribe: false,
    // SUBSCRIBE is only sent on `ready`; a queued one would be replayed onto a later connection.
    enableOfflineQueue: false,
    // Never gives up (rule 2 needs the subscription back), but with jitter and a cap.
    retryStrategy: (times) => backoffDelay(times - 1, backoff),
  };
  return redisConnection(redis, ours, { sharded: true });
}

/**
 * Redis mode: validated bridge messages from one subscription. Turns everything that may have
 * lost events — a re-subscribe, a `seq` gap, a new epoch, a silent leader — into a resync.
 *
 * Start-up and silence: the heartbeat deadline starts when the subscription is acknowledged, so a
 * client that starts while no bridge runs is `ready` (its caches were just loaded from Postgres)
 * and turns `reconnecting` — caches stale — after `bridgeSilenceMs` without a message, like a
 * client whose bridge just died; the first message afterwards brings a resync and `ready`.
 *
 * Epochs: after a re-subscribe or a silence it forgets the newest epoch it saw (see
 * {@link LeaderSequence.forget}): a full resync covers that moment anyway, and a Redis restart can
 * make the legitimate leader's epoch lower than one seen before.
 */
export class RedisSource extends EventEmitter<SourceEvents> implements InvalidationSource {
  readonly #redis: RedisClient;
  readonly #names: Names;
  readonly #channel: string;
  readonly #silenceMs: number;
  readonly #sequence = new LeaderSequence();
  readonly #signer: Signer;
  #status: SubscriberStatus = 'connecting';
  #started = false;
  #subscribedOnce = false;
  /** Bumped on every connection change, so a late SUBSCRIBE reply of a dead connection is ignored. */
  #generation = 0;
  #firstSubscription: { resolve(): void; reject(error: Error): void } | undefined;
  #silent = false;
  /** Connection errors already reported since the last subscription. */
  readonly #troubleSeen = new Set<string>();
  #heardAt = 0;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: RedisSourceOptions) {
    super();
    this.#names = namesIn(options.redis, options.namespace);
    this.#channel = this.#names.events;
    this.#signer = options.signer ?? new Signer();
    rejectRenamedOptions(options, 'redis');
    this.#silenceMs = options.bridgeSilenceMs ?? DEFAULT_BRIDGE_SILENCE_MS;
    this.#redis = subscriberConnection(options.redis, options.backoff);
    this.#redis.on('ready', () => this.#subscribe());
    this.#redis.on('close', () => this.#lost());
    // In a cluster each master has its own subscriber connection, which ioredis replaces (and
    // resubscribes silently) when a node fails or slots move: the old one going may have lost
    // messages, and the new ones being ready is when we subscribe again and resync.
    this.#redis.on('-subscriber', () => this.#lost());
    // (It also comes once while the cluster connects, before `ready`, which subscribes anyway.)
    this.#redis.on('subscribersReady', () => {
      if (this.#redis.status === 'ready') this.#subscribe();
    });
    // Without a listener ioredis would throw; each failed reconnect attempt lands here.
    this.#redis.on('error', (error: Error) => this.#connectionTrouble(error));
    const sharded = this.#names.layout === 'cluster';
    this.#redis.on(sharded ? 'smessage' : 'message', (channel: string, text: string) => {
      if (channel !== this.#channel || this.#status === 'closed') return;
      try {
        this.#onMessage(text);
      } catch (error) {
        // Redis is untrusted input: nothing it sends may take the app down.
        this.#warn(toError(error));
      }
    });
  }

  /** Current state; `reconnecting` also while the leader is silent. */
  get status(): SubscriberStatus {
    return this.#status;
  }

  /** The channel subscribed to (`<namespace>:events`). */
  get channel(): string {
    return this.#channel;
  }

  /** Connects and resolves once SUBSCRIBE is acknowledged; rejects if the first attempt fails. */
  async start(): Promise<void> {
    if (this.#started) throw new ClientError('ALREADY_STARTED', 'redis source already started');
    this.#started = true;
    const subscribed = new Promise<void>((resolve, reject) => {
      this.#firstSubscription = { resolve, reject };
    });
    // Marked handled: if connect() fails first, nobody awaits it, and close() still rejects it.
    subscribed.catch(() => undefined);
    await this.#redis.connect();
    await subscribed;
  }

  /** Ends the subscription and every timer. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#setStatus('closed');
    clearTimeout(this.#watchdog);
    this.#firstSubscription?.reject(new ClientError('CLOSED', 'redis source closed'));
    await closeRedis(this.#redis);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #subscribe(): void {
    if (this.#status === 'closed') return;
    const generation = ++this.#generation;
    const subscribed =
      this.#names.layout === 'cluster'
        ? this.#redis.ssubscribe(this.#channel)
        : this.#redis.subscribe(this.#channel);
    subscribed.then(
      () => {
        if (generation === this.#generation && this.#status !== 'closed') this.#subscribed();
      },
      (cause: unknown) => {
        if (generation !== this.#generation || this.#status === 'closed') return;
        const error = new Error(`cannot subscribe to ${this.#channel}: ${toError(cause).message}`, {
          cause,
        });
        if (!this.#subscribedOnce) {
          this.#firstSubscription?.reject(error);
          return;
        }
        // E.g. an ACL change: retry through a reconnect, which has backoff.
        this.#warn(error);
        this.#redis.disconnect(true);
      },
    );
  }

  #subscribed(): void {
    this.#troubleSeen.clear();
    const resubscribe = this.#subscribedOnce;
    this.#subscribedOnce = true;
    this.#silent = false;
    this.#heardAt = performance.now();
    this.#armWatchdog();
    this.#setStatus('ready');
    if (resubscribe) this.emit('resync', { cause: 'reconnect' });
    else this.#firstSubscription?.resolve();
  }

  #lost(): void {
    if (this.#status === 'closed') return;
    this.#generation += 1;
    clearTimeout(this.#watchdog);
    // Forgotten now, not at re-subscribe: a message may arrive before our SUBSCRIBE reply is handled.
    this.#sequence.forget();
    if (this.#subscribedOnce) this.#setStatus('reconnecting');
  }

  #onMessage(text: string): void {
    const parsed = parseMessage(text, this.#signer);
    if (!parsed.ok) {
      this.emit('invalid', parsed.reason, parsed.detail);
      return;
    }
    const message = parsed.message;
    // Snapshots come from reload workers, not the leader: no epoch or seq to check, and no sign of
    // the leader's life. Snapshot mode loads them; redis mode has no listener.
    if (isWorkerMessage(message)) {
      this.emit('snapshot', message);
      return;
    }
    const verdict = this.#sequence.accept(message);
    let resync: ResyncCause | undefined;
    if (verdict === 'stale-epoch' || verdict === 'duplicate') {
      this.emit('dropped', verdict);
      // Signed, it is a replay: no news from the leader, and no sign of life.
      if (this.#signer.enabled) return;
      // Unsigned, it may be the real leader behind a position a forged message put us at (fenced
      // publishes never reach Redis out of order): follow it, and resync whatever the forgery hid.
      this.#sequence.adopt(message);
      resync = 'out-of-order';
    } else if (verdict === 'gap' || verdict === 'new-epoch') {
      resync = verdict;
    }
    this.#heardAt = performance.now();
    if (this.#silent) {
      this.#silent = false;
      this.#armWatchdog();
      this.#setStatus('ready');
      this.emit('resync', { cause: 'silence' });
      return;
    }
    // A full resync covers this message's own effect too.
    if (resync !== undefined) this.emit('resync', { cause: resync });
    else this.#apply(message);
  }

  #apply(message: Exclude<Message, WorkerMessage>): void {
    switch (message.type) {
      case 'invalidate':
        this.emit('invalidate', message.oid, message.lsn);
        return;
      case 'resync':
        this.emit(
          'resync',
          message.tables === undefined
            ? { cause: 'message' }
            : { cause: 'message', tables: message.tables },
        );
        return;
      case 'heartbeat':
        return;
    }
  }

  #armWatchdog(): void {
    clearTimeout(this.#watchdog);
    const dueIn = this.#heardAt + this.#silenceMs - performance.now();
    this.#watchdog = setTimeout(() => this.#checkSilence(), Math.max(0, Math.ceil(dueIn)));
  }

  // One timer per deadline rather than one per message: a message only moves `#heardAt`.
  #checkSilence(): void {
    this.#watchdog = undefined;
    if (this.#status !== 'ready') return;
    const silentMs = performance.now() - this.#heardAt;
    if (silentMs < this.#silenceMs) {
      this.#armWatchdog();
      return;
    }
    this.#silent = true;
    // Whoever speaks next is the leader: the silent one may have been replaced by a leader whose
    // epoch is lower (the counter was lost with a Redis restart), and a full resync follows anyway.
    this.#sequence.forget();
    this.emit('heartbeatMissed', Math.round(silentMs));
    this.#setStatus('reconnecting');
    void this.#probeConnection();
  }

  // Silence has two causes: a quiet bridge, or a subscription on a path that died without FIN or
  // RST (TCP keepalive would take minutes). A PING on the subscribed connection tells them apart;
  // a dead path is replaced, and the re-subscribe brings its own full resync.
  async #probeConnection(): Promise<void> {
    const generation = this.#generation;
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      this.#redis.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!answered && generation === this.#generation && this.#status !== 'closed') {
      this.#warn(new Error(`no answer to PING within ${PING_TIMEOUT_MS} ms: reconnecting`));
      this.#redis.disconnect(true);
    }
  }

  #setStatus(status: SubscriberStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('status', status);
  }

  // One warning per kind of trouble until the subscription is back: a cluster reports each failed
  // attempt of each node's connection, hundreds a second while a failed master is replaced.
  #connectionTrouble(error: Error): void {
    if (this.#troubleSeen.has(error.message) || this.#troubleSeen.size >= 16) return;
    this.#troubleSeen.add(error.message);
    this.#warn(error);
  }

  #warn(error: Error): void {
    if (this.#status !== 'closed') this.emit('warning', error);
  }
}

/** How long a PING on a silent subscription may take before the connection is replaced. */
const PING_TIMEOUT_MS = 1_000;

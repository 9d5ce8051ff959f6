import {
  parseControlMessage,
  serializeControlMessage,
  type Names,
  type ResyncDone,
  type ResyncMessage,
  type ResyncRequest,
  type Signer,
} from '@pg-static-cache/protocol';
import { publish, subscribe, type RedisClient } from '../connections/redis-connection.ts';
import type { Logger } from 'pino';
import { toError } from '../errors.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';

/** What the control channel needs from its bridge. */
export interface ControlTarget {
  readonly id: string;
  /** The current term's epoch; undefined unless leading. */
  readonly epoch: number | undefined;
  requestResync(tables?: readonly string[]): Promise<ResyncMessage>;
}

/**
 * The bridge's side of `names.control`: every bridge subscribes (a separate connection, since a
 * subscribed connection can do nothing else), only the leader answers `resync-request`, with a
 * `resync-done` carrying the same requestId so `pg-static-cache resync` can wait for it.
 */
export class ControlChannel {
  readonly #subscriber: RedisClient;
  readonly #redis: RedisClient;
  readonly #names: Names;
  readonly #metrics: BridgeMetrics;
  readonly #log: Logger;
  readonly #target: ControlTarget;
  readonly #signer: Signer;

  constructor(options: {
    readonly subscriber: RedisClient;
    readonly redis: RedisClient;
    readonly names: Names;
    readonly metrics: BridgeMetrics;
    readonly logger: Logger;
    readonly target: ControlTarget;
    /** With keys, only signed requests are answered, and answers are signed. */
    readonly signer: Signer;
  }) {
    this.#subscriber = options.subscriber;
    this.#redis = options.redis;
    this.#names = options.names;
    this.#metrics = options.metrics;
    this.#log = options.logger.child({ component: 'control' });
    this.#target = options.target;
    this.#signer = options.signer;
  }

  /** Subscribes; resolves once Redis acknowledged the subscription. */
  async start(): Promise<void> {
    await subscribe(this.#subscriber, this.#names, this.#names.control, (text) =>
      this.#onMessage(text),
    );
  }

  #onMessage(text: string): void {
    const message = parseControlMessage(text, this.#signer);
    if (message === undefined) {
      this.#metrics.invalidControl.inc();
      this.#log.warn({ length: text.length }, 'invalid control message: dropped');
      return;
    }
    // Replies (ours or another leader's) share the channel; only requests concern us.
    if (message.type !== 'resync-request' || this.#target.epoch === undefined) return;
    void this.#answer(message);
  }

  async #answer(request: ResyncRequest): Promise<void> {
    const { requestId } = request;
    const log = this.#log.child({ requestId });
    const reply = { v: 1, type: 'resync-done', requestId, bridge: this.#target.id } as const;
    let done: ResyncDone;
    try {
      const message = await this.#target.requestResync(request.tables);
      const { epoch, tables } = message;
      done = { ...reply, epoch, ok: true, ...(tables === undefined ? {} : { tables }) };
      log.info({ tables: tables ?? 'all' }, 'manual resync published');
    } catch (error) {
      const { message } = toError(error);
      done = {
        ...reply,
        epoch: this.#target.epoch ?? 0,
        ok: false,
        error: message.slice(0, 1_000),
      };
      log.warn({ err: toError(error) }, 'manual resync failed');
    }
    const text = serializeControlMessage(done, this.#signer);
    await publish(this.#redis, this.#names, this.#names.control, text).catch((error: unknown) =>
      log.warn({ err: toError(error) }, 'cannot reply to a resync request'),
    );
  }
}

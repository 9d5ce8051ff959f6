import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { PostgresError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';

/** Lifecycle of the connection, changed in one place (`#setStatus`), as ioredis does. */
export type ListenStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** A NOTIFY received on one of the channels. */
export interface Notification {
  readonly channel: string;
  readonly payload: string;
  readonly processId: number;
}

/** How to reach Postgres, what to LISTEN on, and how hard to try. */
export interface ListenConnectionOptions {
  readonly connection: string | pg.ClientConfig;
  readonly channels: readonly string[];
  /** How often a round trip proves the session still receives notifications. @default 5000 */
  readonly heartbeatIntervalMs?: number;
  /** A heartbeat that has not come back by then means the session is dead. @default 3000 */
  readonly heartbeatTimeoutMs?: number;
  /** Reconnect delays. @default { baseMs: 100, capMs: 5000 } */
  readonly backoff?: BackoffOptions;
  /** Runs on every new session before LISTEN (e.g. take an advisory lock); a throw fails the attempt. */
  readonly onConnect?: (client: pg.Client) => Promise<void>;
}

/** Typed events of {@link ListenConnection}. */
export interface ListenConnectionEvents {
  notification: [Notification];
  /** LISTEN is in place; anything sent while `reconnect` sessions were down was missed. */
  ready: [{ readonly reconnect: boolean }];
  disconnect: [{ readonly error: Error; readonly attempt: number; readonly delayMs: number }];
  status: [ListenStatus];
}

/**
 * One dedicated session that LISTENs and never gives up: pg.Client does not reconnect, so this
 * replaces it on every error, end or failed heartbeat, with backoff, and says `ready` again so the
 * owner can reload whatever it may have missed.
 */
export class ListenConnection extends EventEmitter<ListenConnectionEvents> {
  readonly #options: ListenConnectionOptions;
  // A private channel: heartbeats must not reach other listeners (Sequel parses every payload as an OID).
  readonly #heartbeatChannel = `psc_hb_${process.pid}_${randomBytes(4).toString('hex')}`;
  #status: ListenStatus = 'connecting';
  #client: pg.Client | undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #heartbeatWaiter: ((payload: string) => void) | undefined;
  #heartbeatTimeout: NodeJS.Timeout | undefined;
  #started = false;

  constructor(options: ListenConnectionOptions) {
    super();
    this.#options = Object.freeze({ ...options, channels: [...options.channels] });
  }

  /** Current lifecycle state. */
  get status(): ListenStatus {
    return this.#status;
  }

  /** Connects and LISTENs; rejects when the first attempt fails (later losses are retried forever). */
  async start(): Promise<void> {
    if (this.#started) throw new PostgresError('CLOSED', 'listen connection already started');
    this.#started = true;
    try {
      await this.#connect(false);
    } catch (error) {
      await this.close();
      throw new PostgresError('CONNECTION_FAILED', `cannot listen: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  /** Ends the session and every timer. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#setStatus('closed');
    clearTimeout(this.#timer);
    clearTimeout(this.#heartbeatTimeout);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #setStatus(status: ListenStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('status', status);
  }

  async #connect(reconnect: boolean): Promise<void> {
    const config =
      typeof this.#options.connection === 'string'
        ? { connectionString: this.#options.connection }
        : this.#options.connection;
    // Keepalive lets the kernel notice a half-open socket; the heartbeat catches the rest.
    const client = new pg.Client({
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...config,
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('connection ended')));
    client.on('notification', (message) => this.#onNotification(message));
    try {
      await client.connect();
      await this.#options.onConnect?.(client);
      for (const channel of [...this.#options.channels, this.#heartbeatChannel]) {
        await client.query(`LISTEN ${quoteIdent(channel)}`);
      }
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#status === 'closed') {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#attempt = 0;
    this.#setStatus('ready');
    this.emit('ready', { reconnect });
    this.#scheduleHeartbeat(client);
  }

  #onNotification(message: pg.Notification): void {
    if (message.channel === this.#heartbeatChannel) {
      this.#heartbeatWaiter?.(message.payload ?? '');
      return;
    }
    this.emit('notification', {
      channel: message.channel,
      payload: message.payload ?? '',
      processId: message.processId,
    });
  }

  #lost(client: pg.Client, error: Error): void {
    if (client !== this.#client || this.#status === 'closed') return;
    this.#client = undefined;
    clearTimeout(this.#timer);
    // Abandon a heartbeat still waiting on the dead session: its deadline must not fire later, when
    // it would tear down the heartbeat of the session that replaced this one.
    clearTimeout(this.#heartbeatTimeout);
    this.#heartbeatWaiter = undefined;
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    this.#setStatus('reconnecting');
    this.#retry(error);
  }

  #retry(error: Error): void {
    const delayMs = backoffDelay(this.#attempt, this.#options.backoff);
    this.emit('disconnect', { error, attempt: this.#attempt, delayMs });
    this.#attempt += 1;
    this.#timer = setTimeout(() => {
      this.#connect(true).catch((cause: unknown) => {
        if (this.#status !== 'closed') this.#retry(toError(cause));
      });
    }, delayMs);
  }

  #scheduleHeartbeat(client: pg.Client): void {
    const interval = this.#options.heartbeatIntervalMs ?? 5_000;
    this.#timer = setTimeout(() => void this.#heartbeat(client), interval);
  }

  // NOTIFY to ourselves through the same session: proves both directions still work, which a
  // plain query does not (a session can answer queries yet have lost its LISTEN state after a failover).
  async #heartbeat(client: pg.Client): Promise<void> {
    const timeoutMs = this.#options.heartbeatTimeoutMs ?? 3_000;
    const token = randomBytes(6).toString('hex');
    let waiter: ((payload: string) => void) | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      waiter = (payload) => {
        if (payload === token) resolve(true);
      };
      this.#heartbeatWaiter = waiter;
      deadline = setTimeout(() => resolve(false), timeoutMs);
      this.#heartbeatTimeout = deadline;
    });
    client
      .query('SELECT pg_notify($1, $2)', [this.#heartbeatChannel, token])
      .catch(() => undefined);
    const ok = await arrived;
    // Only this heartbeat's own state: the fields may already belong to a newer session's heartbeat.
    clearTimeout(deadline);
    if (this.#heartbeatWaiter === waiter) this.#heartbeatWaiter = undefined;
    if (client !== this.#client) return;
    if (ok) this.#scheduleHeartbeat(client);
    else this.#lost(client, new Error(`heartbeat not received within ${timeoutMs} ms`));
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function messageOf(value: unknown): string {
  return toError(value).message;
}

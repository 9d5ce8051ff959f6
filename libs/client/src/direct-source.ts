import { EventEmitter } from 'node:events';
import { ListenConnection, type BackoffOptions } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { InvalidationSource, SourceEvents } from './invalidation-source.ts';

/** Settings of direct mode: one LISTEN session per subscriber, as Sequel does, but self-healing. */
export interface DirectSourceOptions {
  readonly connection: string | pg.ClientConfig;
  readonly channel: string;
  readonly listenHeartbeatIntervalMs?: number;
  readonly listenHeartbeatTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
}

const OID = /^[1-9][0-9]{0,9}$/;

/** Direct mode: NOTIFY payloads (bare table OIDs) straight from Postgres. */
export class DirectSource extends EventEmitter<SourceEvents> implements InvalidationSource {
  readonly #listen: ListenConnection;

  constructor(options: DirectSourceOptions) {
    super();
    this.#listen = new ListenConnection({
      connection: options.connection,
      channels: [options.channel],
      ...(options.listenHeartbeatIntervalMs === undefined
        ? {}
        : { heartbeatIntervalMs: options.listenHeartbeatIntervalMs }),
      ...(options.listenHeartbeatTimeoutMs === undefined
        ? {}
        : { heartbeatTimeoutMs: options.listenHeartbeatTimeoutMs }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    this.#listen.on('notification', ({ payload }) => {
      // The channel may be shared with other writers: anything but an OID is dropped, not trusted.
      if (OID.test(payload)) this.emit('invalidate', Number(payload));
      else {
        const shown = JSON.stringify(payload.slice(0, 80));
        this.emit('invalid', 'not-an-oid', `payload is not a table OID: ${shown}`);
      }
    });
    this.#listen.on('ready', ({ reconnect }) => {
      if (reconnect) this.emit('resync', { cause: 'reconnect' });
    });
    this.#listen.on('status', (status) => this.emit('status', status));
    this.#listen.on('disconnect', ({ error }) => this.emit('warning', error));
  }

  start(): Promise<void> {
    return this.#listen.start();
  }

  close(): Promise<void> {
    return this.#listen.close();
  }
}

import { performance } from 'node:perf_hooks';
import type { ResolvedTable } from '@pg-static-cache/postgres';
import type { Logger } from 'pino';
import { toError } from '../errors.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';
import type { Publisher } from './publisher.ts';
import { FoldedFlights } from '../folded-flights.ts';
import type { WatchedTables } from './watched-tables.ts';

// Payloads are bare table OIDs (as Sequel's triggers send them); a shared channel may carry other
// traffic, which is dropped, never trusted.
const OID = /^[1-9][0-9]{0,9}$/;

/** The current term as the announcer publishes through it. */
export interface AnnouncingTerm extends Pick<Publisher, 'invalidate' | 'resync'> {
  /** True once the term has ended: it publishes nothing more. */
  readonly ended: boolean;
}

/** What an {@link Announcer} needs. */
export interface AnnouncerOptions {
  /** The term current now; undefined when there is none. */
  readonly currentTerm: () => AnnouncingTerm | undefined;
  readonly tables: Pick<WatchedTables, 'resolve'>;
  readonly metrics: Pick<
    BridgeMetrics,
    'notifications' | 'notificationsDropped' | 'notificationsFolded'
  >;
  readonly logger: Logger;
}

/**
 * Turns the leader's notifications into invalidates: checks the payload, folds a burst per table
 * (see FoldedFlights), resolves the OID and publishes in the term current when the announce
 * starts. One per LISTEN session; close() with it.
 */
export class Announcer {
  readonly #options: AnnouncerOptions;
  readonly #log: Logger;
  readonly #invalidations: FoldedFlights<number, number>;

  constructor(options: AnnouncerOptions) {
    this.#options = options;
    this.#log = options.logger;
    // Per table OID; the value is when the oldest notification folded in arrived (performance.now).
    this.#invalidations = new FoldedFlights<number, number>(
      (oid, arrivedAt) => this.#announce(oid, arrivedAt),
      (error, oid) => this.#log.error({ err: toError(error), oid }, 'announcing a change failed'),
      (oldest) => oldest,
    );
  }

  /** A notification arrived with `payload`. */
  notify(payload: string): void {
    const arrivedAt = performance.now();
    const { metrics } = this.#options;
    metrics.notifications.inc();
    if (!OID.test(payload)) {
      metrics.notificationsDropped.inc({ reason: 'not-an-oid' });
      this.#log.warn(
        { payload: payload.slice(0, 80) },
        'notification payload is not a table OID: dropped',
      );
      return;
    }
    // Before the term's opening resync is sent, a notification is covered by that resync.
    const term = this.#options.currentTerm();
    if (term === undefined || term.ended) {
      metrics.notificationsDropped.inc({ reason: 'no-term' });
      return;
    }
    // Folded per table, so a burst costs one running and one pending announce per table.
    if (this.#invalidations.notify(Number(payload), arrivedAt) === 'folded') {
      metrics.notificationsFolded.inc();
    }
  }

  /** Starts no new announce; those in flight finish. Safe twice. */
  close(): void {
    this.#invalidations.close();
  }

  // One table's invalidate, in the term current when it starts: a term begun since the
  // notification arrived opened with a resync, which covers it as well.
  async #announce(oid: number, arrivedAt: number): Promise<void> {
    const { metrics, tables } = this.#options;
    const term = this.#options.currentTerm();
    if (term === undefined || term.ended) {
      metrics.notificationsDropped.inc({ reason: 'no-term' });
      return;
    }
    let table: ResolvedTable | undefined;
    try {
      table = await tables.resolve(oid);
      if (table === undefined) {
        metrics.notificationsDropped.inc({ reason: 'unknown-table' });
        return;
      }
      await term.invalidate(table, arrivedAt);
    } catch (error) {
      // Postgres failed between the notification and its invalidate. The event must not be lost,
      // so clients reload (the table, or everything when even the table is unknown).
      this.#log.warn({ err: toError(error), oid }, 'cannot announce a change; sending a resync');
      await term
        .resync('reconnect', table === undefined ? undefined : [table.display])
        .catch(() => undefined);
    }
  }
}

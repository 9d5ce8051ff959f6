import type { Queryable } from '@pg-static-cache/postgres';

/**
 * Reads pg_current_wal_lsn() for notifications. The LSN must be read after the notification
 * arrived (then it bounds the commit's LSN from above), so a caller arriving while a read is in
 * flight cannot share it; it shares the next one instead. A burst therefore costs at most two
 * reads in a row rather than one per notification, and a lone notification costs one round trip.
 */
export class LsnReader {
  readonly #db: Queryable;
  #running: Promise<string> | undefined;
  #queued: Promise<string> | undefined;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** An LSN read entirely after this call. */
  read(): Promise<string> {
    if (this.#running === undefined) return this.#start();
    this.#queued ??= this.#running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.#queued = undefined;
        return this.#start();
      });
    return this.#queued;
  }

  #start(): Promise<string> {
    const reading = this.#query();
    this.#running = reading;
    const done = (): void => {
      if (this.#running === reading) this.#running = undefined;
    };
    reading.then(done, done);
    return reading;
  }

  async #query(): Promise<string> {
    const result = await this.#db.query<{ lsn: string }>(
      'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn',
    );
    const lsn = result.rows[0]?.lsn;
    if (typeof lsn !== 'string') throw new Error('pg_current_wal_lsn() returned no row');
    return lsn;
  }
}

/**
 * Announces one table's change: reads an LSN (after this call) and publishes. `arrivedAt` is when
 * the oldest notification it covers arrived (performance.now). Must not reject; a rejection is
 * reported to `onError` and the table's later notifications still run.
 */
export type AnnounceTable = (oid: number, arrivedAt: number) => Promise<void>;

// One table's single flight: present in the map while a run is in flight.
interface Flight {
  /** Arrival of the oldest notification folded since the running run started; undefined when none. */
  pending: number | undefined;
}

/**
 * The leader's notifications folded per table (freshness rule 3, as the client's CacheReloader):
 * one announce runs per table at a time, and notifications that arrive meanwhile only mark the
 * table pending, which causes exactly one more announce once the running one has finished. That
 * one starts, and so reads its LSN, after every notification it covers arrived, so its LSN bounds
 * their commits too. A burst therefore holds one running and one pending announce per table,
 * whatever its size, instead of one queued LSN read, publish and job add per notification.
 */
export class TableInvalidations {
  readonly #announce: AnnounceTable;
  readonly #onError: (error: unknown, oid: number) => void;
  readonly #flights = new Map<number, Flight>();
  #closed = false;

  constructor(announce: AnnounceTable, onError: (error: unknown, oid: number) => void) {
    this.#announce = announce;
    this.#onError = onError;
  }

  /**
   * A notification for table `oid` arrived at `arrivedAt` (performance.now): 'started' when it
   * started an announce, 'folded' when one runs already (one more follows it), 'closed' after close.
   */
  notify(oid: number, arrivedAt: number): 'started' | 'folded' | 'closed' {
    if (this.#closed) return 'closed';
    const flight = this.#flights.get(oid);
    if (flight !== undefined) {
      flight.pending ??= arrivedAt;
      return 'folded';
    }
    const started: Flight = { pending: undefined };
    this.#flights.set(oid, started);
    void this.#fly(oid, started, arrivedAt);
    return 'started';
  }

  /** Tables with an announce in flight (each with at most one more pending). */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Starts nothing new; announces in flight finish (a pending one is not started). Safe twice. */
  close(): void {
    this.#closed = true;
  }

  async #fly(oid: number, flight: Flight, first: number): Promise<void> {
    let arrivedAt: number | undefined = first;
    while (arrivedAt !== undefined && !this.#closed) {
      flight.pending = undefined;
      try {
        await this.#announce(oid, arrivedAt);
      } catch (error) {
        this.#onError(error, oid);
      }
      arrivedAt = flight.pending;
    }
    this.#flights.delete(oid);
  }
}

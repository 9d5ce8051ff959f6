/**
 * Runs the work for one key. `value` is what the notifications it covers carried, folded (see
 * FoldedFlights). Must not reject; a rejection is reported to `onError` and the key's later
 * notifications still run.
 */
export type FlightRun<K, T> = (key: K, value: T) => Promise<void>;

// One key's single flight: present in the map while a run is in flight.
interface Flight<T> {
  /** What the notifications folded since the running run started carry; undefined when none. */
  pending: T | undefined;
}

/**
 * Work folded per key, as the client's CacheReloader folds reloads (freshness rule 3): one run per
 * key at a time, and notifications that arrive meanwhile only mark the key pending, which causes
 * exactly one more run once the running one has finished. That one starts after every
 * notification it covers arrived, so what it reads (an LSN, a table) is at least as new as their
 * commits. A burst therefore holds one running and one pending run per key, whatever its size.
 * `fold` keeps what the pending run needs of two notifications' values: the leader's announces
 * keep the oldest arrival (for the lag histogram), its inline reloads the newest LSN.
 */
export class FoldedFlights<K, T> {
  readonly #run: FlightRun<K, T>;
  readonly #onError: (error: unknown, key: K) => void;
  readonly #fold: (pending: T, next: T) => T;
  readonly #flights = new Map<K, Flight<T>>();
  #closed = false;

  constructor(
    run: FlightRun<K, T>,
    onError: (error: unknown, key: K) => void,
    fold: (pending: T, next: T) => T,
  ) {
    this.#run = run;
    this.#onError = onError;
    this.#fold = fold;
  }

  /**
   * A notification for `key` carrying `value`: 'started' when it started a run, 'folded' when one
   * runs already (one more follows it), 'closed' after close.
   */
  notify(key: K, value: T): 'started' | 'folded' | 'closed' {
    if (this.#closed) return 'closed';
    const flight = this.#flights.get(key);
    if (flight !== undefined) {
      flight.pending = flight.pending === undefined ? value : this.#fold(flight.pending, value);
      return 'folded';
    }
    const started: Flight<T> = { pending: undefined };
    this.#flights.set(key, started);
    void this.#fly(key, started, value);
    return 'started';
  }

  /** Keys with a run in flight (each with at most one more pending). */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Starts nothing new; runs in flight finish (a pending one is not started). Safe twice. */
  close(): void {
    this.#closed = true;
  }

  async #fly(key: K, flight: Flight<T>, first: T): Promise<void> {
    let value: T | undefined = first;
    while (value !== undefined && !this.#closed) {
      flight.pending = undefined;
      try {
        await this.#run(key, value);
      } catch (error) {
        this.#onError(error, key);
      }
      value = flight.pending;
    }
    this.#flights.delete(key);
  }
}

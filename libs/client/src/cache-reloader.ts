import { backoffDelay, type BackoffOptions } from '@pg-static-cache/postgres';

/** Why a reload was asked for; carried into the `reload` event for operators. */
export type ReloadReason = 'start' | 'change' | 'reconnect' | 'retry' | 'resync';

/**
 * What a load must include: every commit up to an event's WAL position, or (`'now'`) every commit
 * made before the load was asked for. Only a replica read needs to know which: the primary has
 * both once the load starts.
 */
export type LoadTarget = bigint | 'now';

/** Hooks a reloader reports to. */
export interface ReloaderHooks {
  /** Loads and swaps; throws to signal failure (the old rows stay). */
  readonly load: (reason: ReloadReason, target: LoadTarget) => Promise<void>;
  readonly failed: (error: Error, retryInMs: number) => void;
}

/**
 * Single-flight reloads for one cache (freshness rules 3 and 4): while a load runs, further
 * requests only mark it dirty, which causes exactly one more load after it; a failed load is
 * retried with backoff until one succeeds or a new request makes it run at once.
 */
export class CacheReloader {
  readonly #hooks: ReloaderHooks;
  readonly #backoff: BackoffOptions | undefined;
  #running: Promise<void> | undefined;
  #dirty: ReloadReason | undefined;
  /** What the requests since the last load started ask it to include. */
  #target: LoadTarget | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastError: Error | undefined;
  #closed = false;

  constructor(hooks: ReloaderHooks, backoff?: BackoffOptions) {
    this.#hooks = hooks;
    this.#backoff = backoff;
  }

  /**
   * Asks for a load that starts after this call and includes `lsn` (an event's WAL position), or
   * without one everything committed before this call.
   */
  request(reason: ReloadReason, lsn?: bigint): void {
    if (this.#closed) return;
    this.#target = widest(this.#target, lsn ?? 'now');
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#running !== undefined) {
      this.#dirty ??= reason;
      return;
    }
    this.#running = this.#run(reason);
  }

  /** Loads now and resolves when that load (and any it made dirty) is done; rejects if the load failed. */
  async loadNow(reason: ReloadReason): Promise<void> {
    this.request(reason);
    await this.idle();
    if (this.#failures > 0) throw this.#lastError ?? new Error('reload failed');
  }

  /** Resolves when no load is running. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Stops retrying; a running load finishes but nothing new starts. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
  }

  async #run(first: ReloadReason): Promise<void> {
    let reason: ReloadReason | undefined = first;
    while (reason !== undefined && !this.#closed) {
      this.#dirty = undefined;
      // Requests from here on are for the next load: this one may start too early for them.
      const target = this.#target ?? 'now';
      this.#target = undefined;
      try {
        await this.#hooks.load(reason, target);
        this.#failures = 0;
        this.#lastError = undefined;
      } catch (cause) {
        this.#failures += 1;
        this.#lastError = cause instanceof Error ? cause : new Error(String(cause));
      }
      reason = this.#dirty;
    }
    this.#running = undefined;
    if (this.#failures > 0 && !this.#closed) {
      const delay = backoffDelay(this.#failures - 1, this.#backoff);
      this.#hooks.failed(this.#lastError ?? new Error('reload failed'), delay);
      this.#retryTimer = setTimeout(() => this.request('retry'), delay);
    }
  }
}

/** The target that includes both: `'now'` (read later than any event's position) or the higher LSN. */
function widest(a: LoadTarget | undefined, b: LoadTarget): LoadTarget {
  if (a === undefined) return b;
  if (a === 'now' || b === 'now') return 'now';
  return a > b ? a : b;
}

import { FailureStreak, type ListenStatus } from '@pg-static-cache/postgres';
import type { Logger } from 'pino';
import { toError } from '../errors.ts';
import type { Leadership } from './leadership.ts';
import type { LeadershipStatus } from './leadership-state.ts';
import type { StandbyWatch } from './standby-watch.ts';

/** What an {@link Election} needs. */
export interface ElectionParts {
  readonly watch: StandbyWatch;
  /** The bridge's leadership state: the election moves it between standby, acquiring and stopped. */
  readonly status: LeadershipStatus;
  /** Opens a LISTEN session holding the leader lock; undefined when another session holds it. */
  readonly acquire: (epochFloor: number) => Promise<Leadership | undefined>;
  /** How often a standby polls. */
  readonly standbyPollMs: number;
  readonly logger: Logger;
}

/**
 * One bridge's part in the election: a standby polls (see StandbyWatch) and, when the lock is
 * free, opens a LISTEN session that takes it (see Leadership); when leadership ends, it polls again.
 */
export class Election {
  readonly #parts: ElectionParts;
  readonly #acquiring: FailureStreak<Error>;
  #leadership: Leadership | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(parts: ElectionParts) {
    this.#parts = parts;
    const { logger, status, watch } = parts;
    this.#acquiring = new FailureStreak({
      started: (error) => logger.warn({ err: error }, 'cannot open a LISTEN session'),
    });
    status.on('state', (state) => {
      if (state.kind === 'leading') watch.noteEpoch(state.term.epoch);
    });
  }

  /** Status of the leader's LISTEN session; undefined when this bridge has none. */
  get listenStatus(): ListenStatus | undefined {
    return this.#leadership?.listenStatus;
  }

  /** Polls once (so the role is decided when this resolves), then on a timer while standing by. */
  async start(): Promise<void> {
    await this.#poll();
    this.#schedulePoll();
  }

  /** Stops polling and ends leadership (lease deleted, session closed); the state is `stopped`. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    await this.#polling?.catch(() => undefined);
    const leadership = this.#leadership;
    this.#leadership = undefined;
    await leadership
      ?.close()
      .catch((error: unknown) =>
        this.#parts.logger.warn({ err: toError(error) }, 'closing leadership failed'),
      );
    this.#parts.status.setState({ kind: 'stopped' });
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  #schedulePoll(): void {
    if (this.#closed || this.#leadership !== undefined) return;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#polling = this.#poll()
        .catch((error: unknown) =>
          this.#parts.logger.error({ err: toError(error) }, 'standby poll failed'),
        )
        .finally(() => {
          this.#polling = undefined;
          this.#schedulePoll();
        });
    }, this.#parts.standbyPollMs);
  }

  async #poll(): Promise<void> {
    const { watch, status } = this.#parts;
    const outcome = await watch.poll();
    if (outcome !== 'free' || this.#closed) return;
    status.setState({ kind: 'acquiring' });
    let leadership: Leadership | undefined;
    try {
      leadership = await this.#parts.acquire(watch.epochFloor);
      this.#acquiring.succeed();
    } catch (error) {
      this.#acquiring.fail(toError(error));
    }
    if (leadership === undefined) {
      status.setState({ kind: 'standby' });
      return;
    }
    // Checked again: close() may have begun while the session was opening (a getter, since the
    // compiler takes the field for unchanged since the check above).
    if (this.#isClosed()) {
      await leadership.close();
      return;
    }
    this.#lead(leadership);
  }

  #lead(leadership: Leadership): void {
    this.#leadership = leadership;
    leadership.once('ended', () => {
      if (this.#leadership !== leadership) return;
      this.#leadership = undefined;
      this.#parts.watch.noteEpoch(leadership.epochFloor - 1);
      this.#parts.status.setState({ kind: 'standby' });
      this.#schedulePoll();
    });
  }
}

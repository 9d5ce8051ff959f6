/** What a {@link FailureStreak} reports, and how. */
export interface FailureStreakReports<Failure> {
  /** The first failure of a streak (the ones after it until a success are not reported). */
  readonly started: (failure: Failure) => void;
  /** The success that ended a streak; nothing when absent. */
  readonly ended?: () => void;
}

/**
 * "Warn once per failing streak": something retried on a timer (a lease renewal, a poll, a
 * reconnect) that fails for as long as a service is down would otherwise write one line per try.
 * The first failure is reported, then nothing until a success ends the streak, which is reported
 * too, so the log shows when an outage began and when it ended.
 */
export class FailureStreak<Failure = unknown> {
  readonly #reports: FailureStreakReports<Failure>;
  #failing = false;

  constructor(reports: FailureStreakReports<Failure>) {
    this.#reports = reports;
  }

  /** True from a failure until the next success. */
  get failing(): boolean {
    return this.#failing;
  }

  /** A failure: reported when it starts a streak. True when it did. */
  fail(failure: Failure): boolean {
    if (this.#failing) return false;
    this.#failing = true;
    this.#reports.started(failure);
    return true;
  }

  /** A success: ends the streak under way, if any, and reports that. True when one ended. */
  succeed(): boolean {
    if (!this.#failing) return false;
    this.#failing = false;
    this.#reports.ended?.();
    return true;
  }
}

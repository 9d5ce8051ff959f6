/** Exponential backoff with full jitter and a cap, the shape ioredis' retryStrategy documents. */
export interface BackoffOptions {
  /** First delay's upper bound. @default 100 */
  readonly baseMs?: number;
  /** No delay exceeds this. @default 5000 */
  readonly capMs?: number;
}

/**
 * Delay before retry number `attempt` (0-based): a random value in [base/2, min(cap, base·2^attempt)].
 * Jitter keeps a fleet from reconnecting in lockstep after a shared outage.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 100;
  const cap = options.capMs ?? 5_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  const floor = Math.min(base / 2, ceiling);
  return Math.round(floor + Math.random() * (ceiling - floor));
}

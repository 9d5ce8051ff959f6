import { EventEmitter } from 'node:events';
import type { BridgeRole } from '@pg-static-cache/protocol';
import type { LeaderTerm } from './leader-term.ts';

/** Why a term began: this bridge took the lock, or its LISTEN session came back with the lock. */
export type TermReason = 'takeover' | 'reconnect';

/**
 * Where a bridge stands in the election, in one value: every reader (/readyz, the role and epoch,
 * the metrics) derives what it reports from it, and it changes only in {@link LeadershipStatus.setState}.
 */
export type LeadershipState<Term = LeaderTerm> =
  /** Polling: another bridge leads, or nobody can be told to stop leading yet (see StandbyWatch). */
  | { readonly kind: 'standby' }
  /** The lock looked free: opening a LISTEN session that takes it. */
  | { readonly kind: 'acquiring' }
  /**
   * Leader without a term: a LISTEN session of ours (`backendPid`, the last one to take the lock)
   * holds or is getting back the lock, but no term publishes, because the term is still being
   * begun (Redis not answering?) or the session is being re-established. Nothing is published.
   */
  | { readonly kind: 'leading-without-term'; readonly backendPid: number }
  /** Leader publishing under `term`'s epoch. */
  | { readonly kind: 'leading'; readonly term: Term; readonly reason: TermReason }
  /** Closed: final. */
  | { readonly kind: 'stopped' };

/** Typed events of {@link LeadershipStatus}. */
export interface LeadershipStatusEvents<Term> {
  /** The state changed: the new one, then the one it replaced. */
  state: [LeadershipState<Term>, LeadershipState<Term>];
}

/** The role a state shows to others (presence, metrics, `Bridge.role`). */
export function roleOf(state: LeadershipState<unknown>): BridgeRole {
  switch (state.kind) {
    case 'standby':
    case 'acquiring':
      return 'standby';
    case 'leading-without-term':
    case 'leading':
      return 'leader';
    case 'stopped':
      return 'stopped';
  }
}

function same<Term>(a: LeadershipState<Term>, b: LeadershipState<Term>): boolean {
  if (a.kind === 'leading' && b.kind === 'leading') return a.term === b.term;
  if (a.kind === 'leading-without-term' && b.kind === 'leading-without-term') {
    return a.backendPid === b.backendPid;
  }
  return a.kind === b.kind;
}

/**
 * One bridge's {@link LeadershipState}, changed in one place (`setState`, as ListenConnection's
 * status and ioredis' do), with a `state` event per change. `stopped` is final.
 */
export class LeadershipStatus<Term = LeaderTerm> extends EventEmitter<
  LeadershipStatusEvents<Term>
> {
  #state: LeadershipState<Term> = { kind: 'standby' };

  /** The current state. */
  get state(): LeadershipState<Term> {
    return this.#state;
  }

  /** The current term; undefined unless `leading`. */
  get term(): Term | undefined {
    return this.#state.kind === 'leading' ? this.#state.term : undefined;
  }

  /** Moves to `next` and emits `state`; nothing happens when it is the current state or after `stopped`. */
  setState(next: LeadershipState<Term>): void {
    const previous = this.#state;
    if (previous.kind === 'stopped' || same(previous, next)) return;
    this.#state = next;
    this.emit('state', next, previous);
  }
}

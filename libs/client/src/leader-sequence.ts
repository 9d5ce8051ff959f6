/** How one leader message relates to the ones before it. */
export type SequenceVerdict =
  /** The first message since start, a re-subscribe or a silence: nothing to compare it with. */
  | 'first'
  /** The next `seq` of the current epoch. */
  | 'in-order'
  /** Later `seq`s of the current epoch than the next one: messages in between were lost. */
  | 'gap'
  /** A newer leader: whatever the switch-over lost is unknown. */
  | 'new-epoch'
  /** A `seq` already seen in the current epoch (a replay or a duplicate publish). */
  | 'duplicate'
  /** From a leader older than the newest seen: a deposed bridge that still talks. */
  | 'stale-epoch';

/**
 * Follows `(epoch, seq)` of leader messages (freshness rule 2 and the fencing rule of DESIGN.md):
 * adopts newer epochs, spots gaps and replays, and refuses older epochs.
 */
export class LeaderSequence {
  #epoch: number | undefined;
  #seq = 0;

  /** The newest epoch seen since the last {@link forget}, if any. */
  get epoch(): number | undefined {
    return this.#epoch;
  }

  /** Judges a message and moves the position forward unless it is a duplicate or stale. */
  accept(message: { readonly epoch: number; readonly seq: number }): SequenceVerdict {
    const { epoch, seq } = message;
    if (this.#epoch === undefined || epoch > this.#epoch) {
      const verdict = this.#epoch === undefined ? 'first' : 'new-epoch';
      this.#epoch = epoch;
      this.#seq = seq;
      return verdict;
    }
    if (epoch < this.#epoch) return 'stale-epoch';
    if (seq <= this.#seq) return 'duplicate';
    const verdict = seq === this.#seq + 1 ? 'in-order' : 'gap';
    this.#seq = seq;
    return verdict;
  }

  /**
   * Takes `message`'s position as the current one, even if it is behind: when messages are not
   * signed, a position ahead of the leader's can only come from a forged message, and keeping it
   * would make every message of the real leader look old.
   */
  adopt(message: { readonly epoch: number; readonly seq: number }): void {
    this.#epoch = message.epoch;
    this.#seq = message.seq;
  }

  /**
   * Starts over: the next message is adopted whatever its epoch. Called when a full resync covers
   * everything anyway (re-subscribe, silence), because the epoch counter itself may have gone
   * back — a Redis restart loses it — and remembering an epoch no leader will reach again would
   * make this client ignore the legitimate leader for good.
   */
  forget(): void {
    this.#epoch = undefined;
    this.#seq = 0;
  }
}

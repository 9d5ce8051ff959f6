// The line protocol every subscriber process speaks to the driver, the same for Sequel
// (bench/sequel/subscriber.rb) and ours, so both pay the same reporting cost.
import { createHash } from 'node:crypto';

/**
 * `ready` once loaded and listening, then `reload` and `digest` after every reload. `armed` comes
 * first from a process started with a gate (ours only): loaded its code, waiting for `go` on stdin.
 */
export type LineKind = 'armed' | 'ready' | 'reload' | 'digest';

/** One line a subscriber printed, stamped when the driver read it. */
export interface ReportLine {
  readonly kind: LineKind;
  /** Reloads the subscriber has done since it was ready. */
  readonly count: number;
  /** `ready`/`reload`: the greatest `name` in the cache; `digest`: {@link namesDigest} of the cache; `armed`: empty. */
  readonly value: string;
  /** `performance.now()` in the driver when the line arrived. */
  readonly at: number;
}

const LINE = /^(armed|ready|reload|digest) (\d+) (.*)$/;

/** The text of one line (without the newline). */
export function formatLine(kind: LineKind, count: number, value: string): string {
  return `${kind} ${count} ${value}`;
}

/** Parses a line; undefined for anything else (a stray log line is not a report). */
export function parseLine(text: string, at: number): ReportLine | undefined {
  const match = LINE.exec(text);
  if (match === null) return undefined;
  const [, kind, count, value] = match;
  return { kind: kind as LineKind, count: Number(count), value: value ?? '', at };
}

/**
 * The name of update `seq`: fixed width, so the newest update has the greatest name. (The newest
 * `updated_at` would do too, but JavaScript Dates keep only milliseconds and two updates can tie.)
 */
export function updateToken(seq: number): string {
  return `u${String(seq).padStart(9, '0')}`;
}

/** The greatest of the names (one linear scan, as the Ruby side does). */
export function greatestName(names: Iterable<string>): string {
  let best = '';
  for (const name of names) if (name > best) best = name;
  return best;
}

/** SHA-256 hex of the names in primary-key order joined by newlines: equal digests, equal names. */
export function namesDigest(names: readonly string[]): string {
  return createHash('sha256').update(names.join('\n')).digest('hex');
}

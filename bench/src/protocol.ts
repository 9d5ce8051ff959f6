// What a subscriber process reports, as the driver reads it: Sequel's own line protocol
// (bench/sequel/subscriber.rb) and `pg-static-cache watch`'s stdout, each turned into a ReportLine.
import { createHash } from 'node:crypto';
import { parseVersionLine } from '@pg-static-cache/test-support/watch-process';

/**
 * `ready` once loaded and listening, then `reload` after every reload; Sequel also prints a
 * `digest` line right after each `reload` (printed second, so it does not delay the first).
 */
export type LineKind = 'ready' | 'reload' | 'digest';

/** One line a subscriber printed, stamped when the driver read it. */
export interface ReportLine {
  readonly kind: LineKind;
  /** Reloads the subscriber has done since it was ready. */
  readonly count: number;
  /**
   * Sequel: `ready`/`reload` the greatest `name` in the cache, `digest` {@link namesDigest} of
   * the cache. watch: the digest of its rows (SHA-256 of `JSON.stringify(rows)` in key order).
   */
  readonly value: string;
  /** `performance.now()` in the driver when the line arrived. */
  readonly at: number;
}

/** A line as read, before it is stamped. */
export type Report = Omit<ReportLine, 'at'>;

const SEQUEL_LINE = /^(ready|reload|digest) (\d+) (.*)$/;

/** Parses a line of the Sequel subscriber; undefined for anything else (a stray log line). */
export function parseSequelLine(text: string): Report | undefined {
  const match = SEQUEL_LINE.exec(text);
  if (match === null) return undefined;
  const [, kind, count, value] = match;
  return { kind: kind as LineKind, count: Number(count), value: value ?? '' };
}

/** A `watch` stdout line: version 1 is the first load (`ready`), each later version a reload. */
export function parseWatchLine(text: string): Report | undefined {
  const line = parseVersionLine(text);
  if (line === undefined) return undefined;
  const count = line.version - 1;
  return { kind: count === 0 ? 'ready' : 'reload', count, value: line.digest };
}

/**
 * The name of update `seq`: fixed width, so the newest update has the greatest name. (The newest
 * `updated_at` would do too, but JavaScript Dates keep only milliseconds and two updates can tie.)
 */
export function updateToken(seq: number): string {
  return `u${String(seq).padStart(9, '0')}`;
}

/** SHA-256 hex of the names in primary-key order joined by newlines: equal digests, equal names. */
export function namesDigest(names: readonly string[]): string {
  return createHash('sha256').update(names.join('\n')).digest('hex');
}

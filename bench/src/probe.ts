// Instruments a bridge process (loaded with `--import`) or a redis-mode `pg-static-cache watch`
// (loaded through NODE_OPTIONS=--import, after tsx) for the bridge profile: wraps methods on pg's
// and ioredis' prototypes to stamp each step of the bridged path, without changing the code under
// test, and writes the stamps to $PSC_PROBE_FILE as JSON lines when the process exits. A stamp
// costs one array push.
import { writeFileSync } from 'node:fs';
import { namesFor } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PROBE_FILE_ENV, epochNow, type ProbeMark, type ProbeStamp } from './probe-marks.ts';
import { BENCH_CHANNEL, BENCH_NAMESPACE } from './workload.ts';

const stamps: ProbeStamp[] = [];
const stamp = (mark: ProbeMark): void => {
  stamps.push({ mark, at: epochNow() });
};

/** Calls `hook` with the arguments before the original method runs, and its result with the return value. */
function intercept(
  proto: object,
  name: string,
  hook: (args: readonly unknown[]) => ((result: unknown) => void) | undefined,
): void {
  const original: unknown = Reflect.get(proto, name);
  if (typeof original !== 'function') throw new Error(`probe: ${name} is not a method`);
  Reflect.set(proto, name, function (this: unknown, ...args: unknown[]): unknown {
    const after = hook(args);
    const result: unknown = Reflect.apply(original, this, args);
    after?.(result);
    return result;
  });
}

/** Stamps `mark` once `result` (a promise, for the calls probed here) settles. */
const whenSettled =
  (mark: ProbeMark) =>
  (result: unknown): void => {
    if (result instanceof Promise) {
      result.then(
        () => stamp(mark),
        () => stamp(mark),
      );
    }
  };

function queryText(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  const text: unknown = typeof arg === 'object' && arg !== null ? Reflect.get(arg, 'text') : '';
  return typeof text === 'string' ? text : '';
}

const isInvalidate = (text: unknown): boolean =>
  typeof text === 'string' && text.includes('"type":"invalidate"');

function install(file: string): void {
  const events = namesFor(BENCH_NAMESPACE).events;
  intercept(pg.Client.prototype, 'emit', ([event, message]) => {
    const channel: unknown =
      typeof message === 'object' && message !== null ? Reflect.get(message, 'channel') : '';
    if (event === 'notification' && channel === BENCH_CHANNEL) stamp('notify');
    return undefined;
  });
  intercept(pg.Pool.prototype, 'query', ([arg]) => {
    const text = queryText(arg);
    if (text.includes('pg_current_wal_lsn')) {
      stamp('lsn-start');
      return whenSettled('lsn-end');
    }
    // The reload (selectRowsSql); catalog queries pass the table name as a parameter, not in the text.
    if (text.startsWith('SELECT * FROM') && text.includes('bench_items')) {
      stamp('reload-start');
      return whenSettled('reload-end');
    }
    return undefined;
  });
  intercept(Redis.prototype, 'sendCommand', ([command]) => {
    if (typeof command !== 'object' || command === null) return undefined;
    const name: unknown = Reflect.get(command, 'name');
    const args: unknown = Reflect.get(command, 'args');
    if (name !== 'evalsha' || !Array.isArray(args) || !args.some(isInvalidate)) return undefined;
    stamp('publish-sent');
    return whenSettled('publish-done');
  });
  intercept(Redis.prototype, 'emit', ([event, channel, text]) => {
    if (event === 'message' && channel === events && isInvalidate(text)) stamp('message');
    return undefined;
  });
  process.on('exit', () => {
    writeFileSync(file, stamps.map((s) => JSON.stringify(s)).join('\n'));
  });
}

const file = process.env[PROBE_FILE_ENV];
if (file !== undefined && file !== '') install(file);

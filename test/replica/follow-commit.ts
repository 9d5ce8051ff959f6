// The check every read-replica test makes: after a commit, every version each `watch` app prints
// already holds it, so no app ever prints a lagging replica's older rows as a new version; and
// each version's rows came from where the app's setup says (the replica, a snapshot).
import { tableDigest, waitFor } from '@pg-static-cache/test-support';
import {
  startWatch,
  type WatchEvent,
  type WatchOptions,
  type WatchProcess,
} from '@pg-static-cache/test-support/watch-process';
import type pg from 'pg';
import { expect } from 'vitest';

/** A `reload` event of `watch --events`. */
export type Reload = Extract<WatchEvent, { event: 'reload' }>;

/** The reload events `watch` printed so far, in order. */
export const reloads = (watch: WatchProcess): Reload[] =>
  watch.events.filter((e): e is Reload => e.event === 'reload');

/** An app following commits, and what each version it prints after a commit must say. */
export interface FollowingApp {
  /** Names the app in failure messages. */
  readonly name: string;
  readonly watch: WatchProcess;
  /** Who served each table query (the reload's `replica`: `replica`, `lagging`, `unavailable`); unchecked when absent. */
  readonly served?: string;
  /** Where each version's rows came from (`postgres`, `snapshot`); unchecked when absent. */
  readonly source?: string;
}

/** Apps started to follow commits; disposing kills every one. */
export class FollowingApps implements AsyncDisposable {
  /** The apps started so far (in the order they became ready). */
  readonly list: FollowingApp[] = [];

  /** Starts `watch` with `options`; resolves once it loaded its tables. */
  async start(expected: Omit<FollowingApp, 'watch'>, options: WatchOptions): Promise<void> {
    this.list.push({ ...expected, watch: await startWatch(options) });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.list.map((app) => app.watch[Symbol.asyncDispose]()));
  }
}

/**
 * Sets row 1's label of `table` to `label` in one commit and waits until every app printed the
 * version holding it. Then every version each app printed after the commit returned must hold
 * the commit (none has older rows), served and sourced as the app says.
 */
export async function commitAndFollow(
  pool: pg.Pool,
  table: string,
  label: string,
  apps: readonly FollowingApp[],
  timeoutMs = 30_000,
): Promise<void> {
  const before = new Map(apps.map((app) => [app, reloads(app.watch).length]));
  await pool.query(`UPDATE ${table} SET label = $1 WHERE id = 1`, [label]);
  const digest = await tableDigest(pool, table);
  const printedAfter = (app: FollowingApp) => reloads(app.watch).slice(before.get(app));
  // Done once every app printed it, or as soon as one printed a version without it (the failure
  // below then shows which).
  await waitFor(
    `every app to print the version holding ${label}`,
    () =>
      apps.some((app) => printedAfter(app).some((r) => r.digest !== digest)) ||
      apps.every((app) => printedAfter(app).some((r) => r.digest === digest)),
    timeoutMs,
  );
  for (const app of apps) {
    const seen = (r: Reload) => ({
      digest: r.digest,
      ...(app.served === undefined ? {} : { served: r.replica }),
      ...(app.source === undefined ? {} : { source: r.source }),
    });
    const expected = {
      digest,
      ...(app.served === undefined ? {} : { served: app.served }),
      ...(app.source === undefined ? {} : { source: app.source }),
    };
    const after = printedAfter(app);
    expect(after.map(seen), `${app.name} after ${label}`).toEqual(after.map(() => expected));
  }
}

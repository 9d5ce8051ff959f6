// The bridge's safety net behind the triggers: on a schedule, fingerprint every watched table and
// invalidate any table whose content changed although no invalidate was announced for it (a
// missing or disabled trigger, a lost notification). Also re-checks the triggers on each run, and
// invalidates a watched table that was dropped, renamed or replaced since the previous run: DDL
// fires no trigger, and without the sql_drop event trigger nothing else tells the apps.
import {
  checkTriggers,
  type ResolvedTable,
  type TriggerOptions,
  type TriggerReport,
} from '@pg-static-cache/postgres';
import { createTask, validate, type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import type pg from 'pg';
import type { Logger } from 'pino';
import { BridgeError } from '../errors.ts';
import { computeTableDigest } from './table-digest.ts';

/** One watched table in one run. */
export interface ResyncTableReport {
  /** `schema.name`, unquoted. */
  readonly table: string;
  /** SHA-256 hex of the table's content, see `tableDigestSql`. */
  readonly digest: string;
  /** Content changed since the previous run without an announced invalidate; one was published. */
  readonly drifted: boolean;
  readonly trigger: TriggerReport;
}

/** The outcome of one run; a table whose check failed (logged) is left out. */
export interface ResyncReport {
  /** Start of the run, milliseconds since the Unix epoch. */
  readonly at: number;
  readonly tables: readonly ResyncTableReport[];
  /** How many tables drifted. */
  readonly drifted: number;
  /** `schema.name` of tables watched by the previous run that were dropped, renamed or replaced since. */
  readonly gone: readonly string[];
  /** Every table's trigger (and its members') is ok, and no table's check failed. */
  readonly triggersOk: boolean;
  readonly durationMs: number;
}

/** Sends a message through the leader's publisher (which adds seq, epoch, lsn, …). */
export type ResyncPublish = (
  message:
    | { type: 'invalidate'; table: ResolvedTable }
    | { type: 'resync'; reason: 'drift' | 'scheduled'; tables?: readonly string[] },
) => Promise<void>;

/** What a {@link ScheduledResync} needs from the bridge. */
export interface ScheduledResyncOptions {
  readonly pool: pg.Pool;
  /** The tables to watch, asked at the start of every run. */
  readonly tables: () => Promise<readonly ResolvedTable[]>;
  readonly publish: ResyncPublish;
  /** The tables the bridge watches before the first run (its start-up discovery). @default none */
  readonly watched?: () => readonly ResolvedTable[];
  /** Names of the channel, function and trigger that `checkTriggers` expects. */
  readonly triggerOptions: TriggerOptions;
  /** node-cron expression (six fields allow seconds); the bridge config's default is every 5 minutes. */
  readonly schedule: string;
  readonly logger: Logger;
  /** Called after each run that produced a report (the bridge turns it into metrics). */
  readonly onReport: (report: ResyncReport) => void;
}

interface Baseline {
  readonly digest: string;
  /** The announcement counter when `digest` was taken; later announcements explain a change. */
  readonly checkedThrough: number;
}

// node-cron logs missed runs and task errors through this; keep them in the structured log.
function cronLogger(log: Logger): CronLogger {
  const write =
    (level: 'error' | 'debug') =>
    (message: string | Error, err?: Error): void => {
      if (message instanceof Error) log[level]({ err: message }, message.message);
      else log[level](err === undefined ? {} : { err }, message);
    };
  return {
    info: (message) => log.info(message),
    warn: (message) => log.warn(message),
    error: write('error'),
    debug: write('debug'),
  };
}

/**
 * Scheduled drift detection. The first run after construction has no earlier digests, so it only
 * records them: drift can be seen from the second run on. Runs never overlap: `runNow()` while a
 * run is under way returns that run's promise (a scheduled tick joins it the same way). close()
 * stops a run after its current table, without calling onReport.
 */
export class ScheduledResync {
  readonly #options: ScheduledResyncOptions;
  readonly #log: Logger;
  readonly #baselines = new Map<number, Baseline>();
  /** OID → value of #announcements when an invalidate for it was last announced. */
  readonly #announced = new Map<number, number>();
  /** The tables of the previous run (and any whose invalidate for going away is still owed). */
  #previous: readonly ResolvedTable[] = [];
  /** A run has set `#previous`; before that, the bridge's own list of watched tables stands in. */
  #ranOnce = false;
  #announcements = 0;
  #task: ScheduledTask | undefined;
  #running: Promise<ResyncReport> | undefined;
  #closed = false;

  constructor(options: ScheduledResyncOptions) {
    if (!validate(options.schedule)) {
      throw new BridgeError(
        'INVALID_CONFIG',
        `invalid resync schedule ${JSON.stringify(options.schedule)}: not a cron expression`,
      );
    }
    this.#options = Object.freeze({ ...options });
    // pino repeats a key bound twice, so keep a caller's own component.
    const bound = 'component' in options.logger.bindings();
    this.#log = bound ? options.logger : options.logger.child({ component: 'scheduled-resync' });
  }

  /** Starts the cron task; calling it again, or after close(), does nothing. */
  start(): void {
    if (this.#closed || this.#task !== undefined) return;
    this.#task = createTask(this.#options.schedule, () => this.#scheduledRun(), {
      name: 'psc-scheduled-resync',
      logger: cronLogger(this.#log),
    });
    void Promise.resolve(this.#task.start()).catch((error: unknown) => {
      this.#log.error({ err: error }, 'could not start the resync schedule');
    });
  }

  /** Runs a check now, or joins the one under way; rejects only when closed or the table list fails. */
  runNow(): Promise<ResyncReport> {
    if (this.#closed) {
      return Promise.reject(new BridgeError('CLOSED', 'the scheduled resync is closed'));
    }
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Records that an invalidate was published for `table` (or a partition or child of a watched table). */
  noteAnnounced(table: ResolvedTable): void {
    this.#announcements += 1;
    this.#announced.set(table.oid, this.#announcements);
  }

  /** Stops the schedule and waits for a run under way; closing twice is fine. */
  async close(): Promise<void> {
    this.#closed = true;
    const task = this.#task;
    this.#task = undefined;
    if (task !== undefined) await task.destroy();
    // Its outcome was already reported to whoever started it.
    await this.#running?.catch(() => undefined);
  }

  /** Same as close(). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #scheduledRun(): Promise<void> {
    if (this.#closed) return;
    if (this.#running !== undefined)
      this.#log.debug('a run is still under way; this tick joins it');
    try {
      await this.runNow();
    } catch (error) {
      this.#log.error({ err: error }, 'scheduled resync failed');
    }
  }

  async #run(): Promise<ResyncReport> {
    const at = Date.now();
    const started = performance.now();
    // Before the first run: what the bridge watched at start-up, so that a table dropped before
    // this run is found gone rather than taken as never watched. Taken before `tables()`, which
    // may replace the bridge's list with this run's.
    const previous = this.#ranOnce ? this.#previous : (this.#options.watched?.() ?? []);
    const tables = await this.#options.tables();
    const gone = await this.#announceGone(previous, tables);
    const reports: ResyncTableReport[] = [];
    let failed = 0;
    for (const table of tables) {
      if (this.#closed) break;
      try {
        reports.push(await this.#checkTable(table));
      } catch (error) {
        // One dropped or renamed table must not blind the check of the others; the table keeps
        // its previous digest, so a drift whose invalidate could not be published is found again.
        failed += 1;
        this.#log.error({ err: error, table: table.display }, 'resync check of a table failed');
      }
    }
    this.#forgetUnwatched(tables);
    const drifted = reports.filter((r) => r.drifted).length;
    const report: ResyncReport = Object.freeze({
      at,
      tables: Object.freeze(reports),
      drifted,
      gone: Object.freeze(gone),
      triggersOk: failed === 0 && reports.every((r) => r.trigger.ok),
      durationMs: Math.round(performance.now() - started),
    });
    // Stopped part-way by close(): a partial report would misstate the tables' health.
    if (this.#closed) return report;
    this.#log.info(
      {
        tables: reports.length,
        failed,
        drifted,
        gone: gone.length,
        triggersOk: report.triggersOk,
        ms: report.durationMs,
      },
      'scheduled resync finished',
    );
    try {
      this.#options.onReport(report);
    } catch (error) {
      this.#log.error({ err: error }, 'onReport threw');
    }
    return report;
  }

  async #checkTable(table: ResolvedTable): Promise<ResyncTableReport> {
    const { pool, triggerOptions } = this.#options;
    const [trigger] = await checkTriggers(pool, { ...triggerOptions, tables: [table.sql] });
    if (trigger?.oid !== table.oid) {
      throw new BridgeError('UNKNOWN_TABLE', `${table.display} was renamed or dropped`);
    }
    if (!trigger.ok) {
      const members = trigger.members.filter((m) => !m.ok).map((m) => `${m.table}: ${m.state}`);
      this.#log.warn(
        { table: table.display, state: trigger.state, members },
        'trigger does not notify every change; only the scheduled resync will notice them',
      );
    }

    const digest = await computeTableDigest(pool, table);
    // Race: a commit whose NOTIFY the bridge has not yet turned into an invalidate when the digest
    // is taken looks like drift, and costs one extra (harmless) invalidate. Reading the counter
    // only after the digest query makes an invalidate announced while it ran count for this run,
    // which closes most of that window. The other way round, an unannounced change in the same
    // interval as an announced one is not reported; the announced invalidate's reload covers it
    // unless it committed after that reload began, and a trigger that is off is warned above.
    let checkedThrough = this.#announcements;
    const previous = this.#baselines.get(table.oid);
    const drifted =
      previous !== undefined &&
      previous.digest !== digest &&
      !table.memberOids.some((oid) => (this.#announced.get(oid) ?? 0) > previous.checkedThrough);
    if (drifted) {
      this.#log.warn(
        { table: table.display, previous: previous.digest, digest },
        'drift: content changed without an announced invalidate; invalidating',
      );
      await this.#options.publish({ type: 'invalidate', table });
      // The publisher may note our own invalidate as announced; counted, it would hide the next
      // run's drift (a disabled trigger would then be caught every other run). Skipping what was
      // announced meanwhile errs the safe way: at worst one extra invalidate.
      checkedThrough = this.#announcements;
    }
    this.#baselines.set(table.oid, { digest, checkedThrough });
    return Object.freeze({ table: table.display, digest, drifted, trigger });
  }

  /**
   * Invalidates each table of the previous run (`previous`) that no table of this run is (same OID and same
   * name): apps holding it reload, and their load finds it dropped, renamed or replaced and says
   * so, and a reload job finds it gone and deletes its snapshot. One whose invalidate cannot be
   * published is tried again on the next run.
   */
  async #announceGone(
    previous: readonly ResolvedTable[],
    tables: readonly ResolvedTable[],
  ): Promise<string[]> {
    const present = new Set(tables.map((t) => `${t.oid} ${t.display}`));
    const gone = previous.filter((t) => !present.has(`${t.oid} ${t.display}`));
    const owed: ResolvedTable[] = [];
    for (const table of gone) {
      if (this.#closed) {
        owed.push(table);
        continue;
      }
      this.#log.warn(
        { table: table.display, oid: table.oid },
        'watched table was dropped, renamed or replaced; invalidating it',
      );
      try {
        await this.#options.publish({ type: 'invalidate', table });
      } catch (error) {
        owed.push(table);
        this.#log.error({ err: error, table: table.display }, 'cannot announce a table gone');
      }
    }
    this.#previous = [...tables, ...owed];
    this.#ranOnce = true;
    return gone.map((t) => t.display);
  }

  #forgetUnwatched(tables: readonly ResolvedTable[]): void {
    const watched = new Set(tables.map((t) => t.oid));
    const members = new Set(tables.flatMap((t) => t.memberOids));
    for (const oid of this.#baselines.keys()) if (!watched.has(oid)) this.#baselines.delete(oid);
    for (const oid of this.#announced.keys()) if (!members.has(oid)) this.#announced.delete(oid);
  }
}

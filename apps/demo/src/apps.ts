// The demo's apps: each is `pg-static-cache watch --events`, the program a user would run, read
// line by line. stdout says which version of which table it serves (with the digest of its rows),
// stderr why it reloaded, where the rows came from, and when it went stale or reconnected.
import {
  parseJsonLine,
  spawnCli,
  type SpawnedProcess,
} from '@pg-static-cache/test-support/process';
import { waitFor } from '@pg-static-cache/test-support/wait';
import type { Mode } from './config.ts';
import { DEMO_TABLES, type DemoTable } from './schema.ts';

/** One stdout line of `watch`, with when the demo read it (`performance.now()`). */
export interface Version {
  readonly table: DemoTable;
  readonly version: number;
  readonly rows: number;
  readonly digest: string;
  readonly at: number;
}

/** One stderr JSON event of `watch` (`reload`, `status`, `stale`, `warning`). */
export interface AppEvent {
  readonly event: string;
  readonly table: string | undefined;
  readonly reason: string | undefined;
  readonly source: string | undefined;
  readonly fallback: string | undefined;
  /** With --replica, who served a table query: `replica`, or the primary and why (`lagging`, …). */
  readonly replica: string | undefined;
  readonly status: string | undefined;
}

/** Where and how the apps run. */
export interface AppOptions {
  readonly mode: Mode;
  /** The app role's URL. */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly schema: string;
  readonly channel: string;
  /** Its region's read replica, as the app role: `watch --replica`. */
  readonly replicaUrl?: string;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;

/** One running `watch` process and what it said. */
export class App {
  readonly name: string;
  /** `home`, or the region whose Redis it follows. */
  readonly region: string;
  readonly #proc: SpawnedProcess;
  readonly #schema: string;

  constructor(name: string, options: AppOptions, region = 'home') {
    this.name = name;
    this.region = region;
    this.#schema = options.schema;
    // application_name tells this app's sessions apart in pg_stat_activity (direct mode's LISTEN).
    const url = new URL(options.databaseUrl);
    url.searchParams.set('application_name', name);
    const tables = DEMO_TABLES.map((t) => `${options.schema}.${t}`);
    const where =
      options.mode === 'direct' ? ['--channel', options.channel] : ['--namespace', options.schema];
    if (options.replicaUrl !== undefined) where.push('--replica', options.replicaUrl);
    this.#proc = spawnCli(
      ['watch', '--events', '--mode', options.mode, '--table', ...tables, ...where],
      { env: { DATABASE_URL: url.toString(), REDIS_URL: options.redisUrl } },
    );
  }

  /** The process id. */
  get pid(): number | undefined {
    return this.#proc.child.pid;
  }

  /** Where the output stands now: pass to {@link versions} and {@link events} to see what followed. */
  mark(): { readonly stdout: number; readonly stderr: number } {
    return { stdout: this.#proc.lines.length, stderr: this.#proc.stderrLines.length };
  }

  /** Versions loaded since stdout line `from`. */
  versions(from = 0): Version[] {
    return this.#proc.lines.slice(from).flatMap((line, i) => {
      const value = parseJsonLine(line);
      const table = DEMO_TABLES.find((t) => value?.['table'] === `${this.#schema}.${t}`);
      const digest = text(value?.['digest']);
      if (table === undefined || digest === undefined) return [];
      const at = this.#proc.lineTimes[from + i] ?? Number.NaN;
      return [
        { table, version: Number(value?.['version']), rows: Number(value?.['rows']), digest, at },
      ];
    });
  }

  /** stderr events since line `from`. */
  events(from = 0): AppEvent[] {
    return this.#proc.stderrLines.slice(from).flatMap((line) => {
      const value = parseJsonLine(line);
      const event = text(value?.['event']);
      if (value === undefined || event === undefined) return [];
      const [table, reason, source, fallback, replica, status] = [
        'table',
        'reason',
        'source',
        'fallback',
        'replica',
        'status',
      ].map((key) => text(value[key]));
      return [{ event, table, reason, source, fallback, replica, status }];
    });
  }

  /** The version of `table` served now. */
  served(table: DemoTable): Version | undefined {
    return this.versions().findLast((v) => v.table === table);
  }

  /** Resolves once every cache is loaded (the first `ready` status); rejects if the app exits. */
  async ready(timeoutMs: number): Promise<void> {
    await this.#proc.waitForLine((line) => line.includes('"status":"ready"'), {
      stream: 'stderr',
      timeoutMs,
    });
  }

  /** Resolves once `check` holds; rejects at the deadline or when the process has ended. */
  async until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    let exited = false;
    void this.#proc.exit.then(() => (exited = true));
    await waitFor(
      `${this.name}: ${what}`,
      () => {
        if (exited) throw new Error(`${this.name} exited: ${this.#proc.stderr.slice(-500)}`);
        return check();
      },
      timeoutMs,
    );
  }

  /** SIGTERM, SIGKILL after the deadline; rejects unless it exited 0 (watch's contract). */
  async stop(timeoutMs: number): Promise<void> {
    const exit = await this.#proc.stop('SIGTERM', timeoutMs);
    if (exit.code !== 0) throw new Error(`${this.name} exited with ${JSON.stringify(exit)}`);
  }
}

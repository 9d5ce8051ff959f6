// The demo's apps: each is `pg-static-cache watch --events`, the program a user would run, read
// line by line. stdout says which version of which table it serves (with the digest of its rows),
// stderr why it reloaded, where the rows came from, and when it went stale or reconnected.
import { spawnCli, type SpawnedProcess } from '@pg-static-cache/test-support/process';
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
  readonly table?: string;
  readonly reason?: string;
  readonly source?: string;
  readonly fallback?: string;
  readonly status?: string;
}

/** Where and how the apps run. */
export interface AppOptions {
  readonly mode: Mode;
  /** The app role's URL. */
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly schema: string;
  readonly channel: string;
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** One running `watch` process and what it said. */
export class App {
  readonly name: string;
  readonly #proc: SpawnedProcess;
  readonly #schema: string;

  constructor(name: string, options: AppOptions) {
    this.name = name;
    this.#schema = options.schema;
    // application_name tells this app's sessions apart in pg_stat_activity (direct mode's LISTEN).
    const url = new URL(options.databaseUrl);
    url.searchParams.set('application_name', name);
    const tables = DEMO_TABLES.map((t) => `${options.schema}.${t}`);
    const where =
      options.mode === 'direct' ? ['--channel', options.channel] : ['--namespace', options.schema];
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
    return this.#proc.lines.slice(from).flatMap((text, i) => {
      const line = parse(text) as Partial<Version> | undefined;
      const table = DEMO_TABLES.find((t) => line?.table === `${this.#schema}.${t}`);
      if (table === undefined || line?.digest === undefined) return [];
      const at = this.#proc.lineTimes[from + i] ?? Number.NaN;
      return [{ table, version: line.version ?? 0, rows: line.rows ?? 0, digest: line.digest, at }];
    });
  }

  /** stderr events since line `from`. */
  events(from = 0): AppEvent[] {
    return this.#proc.stderrLines.slice(from).flatMap((text) => {
      const event = parse(text) as AppEvent | undefined;
      return typeof event?.event === 'string' ? [event] : [];
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

// `pg-static-cache watch` as an application under test: the newest version it printed for each
// table, its subscriber status, and when each line arrived, so that a waiter learns the moment an
// app came to hold what the database holds, from the app's own output rather than by polling.
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { spawnCli, type ChildEnv, type SpawnedProcess } from '../support/process.ts';

/** Where a watch process gets its events from. */
export type WatchMode = 'direct' | 'redis' | 'snapshot';

// stdout: `{"table","rows","digest","version","ms"}` per version; stderr: `{"event",...}` lines.
const versionLine = z.object({
  table: z.string(),
  rows: z.number(),
  digest: z.string(),
  version: z.number(),
  ms: z.number(),
});
const statusLine = z.object({ event: z.literal('status'), status: z.string() });

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A value an app reported and when its line arrived (performance.now()). */
export interface Seen<T> {
  readonly value: T;
  readonly at: number;
}

/** What one table's newest line said. */
export interface TableVersion {
  readonly digest: string;
  readonly version: number;
}

/** A running `watch`; disposing it kills it. */
export interface WatchApp extends AsyncDisposable {
  readonly mode: WatchMode;
  readonly proc: SpawnedProcess;
  /** The newest version printed for `table` (as watch names it: `schema.name`). */
  latest(table: string): Seen<TableVersion> | undefined;
  /** The subscriber status reported last. */
  status(): Seen<string> | undefined;
  /** Calls `listener` after each line and when the process ends; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** What no convergence shows: a version that went backwards, unparsable stdout, an exit. */
  problems(): readonly string[];
  /** The last lines of both streams, for a failure message. */
  describe(): string;
}

/** Spawns `pg-static-cache watch --mode <mode> --table <tables...> <args...>` with `env`. */
export function startWatchApp(
  mode: WatchMode,
  tables: readonly string[],
  args: readonly string[],
  env: ChildEnv,
): WatchApp {
  const proc = spawnCli(['watch', '--mode', mode, '--table', ...tables, ...args], { env });
  const versions = new Map<string, Seen<TableVersion>>();
  const listeners = new Set<() => void>();
  const problems: string[] = [];
  let status: Seen<string> | undefined;
  const changed = () => {
    for (const listener of listeners) listener();
  };
  const { stdout, stderr } = proc.child;
  if (stdout === null || stderr === null) throw new Error('watch spawned without pipes');
  createInterface({ input: stdout }).on('line', (text) => {
    const parsed = versionLine.safeParse(json(text));
    if (!parsed.success) {
      problems.push(`unparsable stdout line: ${text.slice(0, 200)}`);
    } else {
      const { table, digest, version } = parsed.data;
      const known = versions.get(table);
      if (known !== undefined && version <= known.value.version) {
        problems.push(`${table} went from version ${known.value.version} to ${version}`);
      }
      versions.set(table, { value: { digest, version }, at: performance.now() });
    }
    changed();
  });
  createInterface({ input: stderr }).on('line', (text) => {
    // Other lines (stale caches, warnings) stay in proc.stderrLines for describe().
    const parsed = statusLine.safeParse(json(text));
    if (!parsed.success) return;
    status = { value: parsed.data.status, at: performance.now() };
    changed();
  });
  void proc.exit.then((exit) => {
    problems.push(`watch --mode ${mode} exited: ${JSON.stringify(exit)}`);
    changed();
  });
  return {
    mode,
    proc,
    latest: (table) => versions.get(table),
    status: () => status,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    problems: () => problems,
    describe: () =>
      [
        `--- watch --mode ${mode} (pid ${proc.child.pid ?? '?'}) ---`,
        ...proc.lines.slice(-6),
        ...proc.stderrLines.slice(-8),
      ].join('\n'),
    async [Symbol.asyncDispose]() {
      await proc.stop('SIGKILL');
    },
  };
}

// Runs test/support/fixtures/app.ts as a real application process and follows what it reports.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '@pg-static-cache/local-services';
import { waitFor } from './index.ts';

/** One JSON line the app prints. */
export type AppLine =
  | { readonly type: 'ready'; readonly pid: number }
  | {
      readonly type: 'reload';
      readonly table: string;
      readonly version: number;
      readonly rows: number;
      readonly digest: string;
      readonly reason: string;
      /** 'postgres' or 'snapshot' (where the rows came from). */
      readonly source?: string;
      /** Snapshot mode: why Postgres was queried instead of the snapshot. */
      readonly fallback?: string;
    }
  | { readonly type: 'stale'; readonly table: string; readonly error: string }
  | { readonly type: 'status'; readonly status: string }
  | { readonly type: 'warning'; readonly message: string };

/** What the app is told to cache and where. */
export interface AppOptions {
  /** Database URL (with the test schema on its search_path). */
  readonly url: string;
  /** Direct mode: the NOTIFY channel. @default the client's default channel */
  readonly channel?: string;
  readonly tables: readonly string[];
  /** @default 'direct' */
  readonly mode?: 'direct' | 'redis' | 'snapshot';
  /** Redis and snapshot mode (required there): the Redis the bridge publishes to. */
  readonly redisUrl?: string;
  /** Redis and snapshot mode: the bridge's namespace. @default the client's default */
  readonly namespace?: string;
  /** Extra environment, e.g. `PSC_BRIDGE_SILENCE_MS` (see test/support/fixtures/app.ts). */
  readonly env?: Readonly<Record<string, string>>;
  /** @default 30000 (a cold `node --import tsx` on two busy cores takes a few seconds) */
  readonly readyTimeoutMs?: number;
}

/** A running app process; disposing it kills it if it still runs. */
export interface AppProcess extends AsyncDisposable {
  readonly pid: number;
  /** Every line printed so far, in order. */
  readonly lines: readonly AppLine[];
  /** Lines that could not be parsed (a bug in the fixture or a stray console.log). */
  readonly invalid: readonly string[];
  /** The digest of the newest version of `table` the app reported. */
  digestOf(table: string): string | undefined;
  /** The subscriber status the app reported last (undefined before any). */
  lastStatus(): string | undefined;
  /** Everything the app wrote on stderr so far. */
  readonly stderr: string;
  /** Sends SIGTERM and resolves with the exit code; SIGKILLs and rejects after the deadline. */
  stop(timeoutMs?: number): Promise<number | null>;
}

const APP = join(repoRoot, 'test', 'support', 'fixtures', 'app.ts');

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/** Parses one stdout line; anything that is not a known line is an error in the fixture. */
export function parseAppLine(text: string): AppLine {
  const value: unknown = JSON.parse(text);
  if (!isObject(value)) throw new Error(`app printed a non-object: ${text}`);
  const str = (key: string): string => {
    const field = value[key];
    if (typeof field !== 'string') throw new Error(`app line without ${key}: ${text}`);
    return field;
  };
  const num = (key: string): number => {
    const field = value[key];
    if (typeof field !== 'number') throw new Error(`app line without ${key}: ${text}`);
    return field;
  };
  switch (value['type']) {
    case 'ready':
      return { type: 'ready', pid: num('pid') };
    case 'reload': {
      // `fallback` only comes with a snapshot-mode load that queried Postgres instead.
      return {
        type: 'reload',
        table: str('table'),
        version: num('version'),
        rows: num('rows'),
        digest: str('digest'),
        reason: str('reason'),
        ...(value['source'] === undefined ? {} : { source: str('source') }),
        ...(value['fallback'] === undefined ? {} : { fallback: str('fallback') }),
      };
    }
    case 'stale':
      return { type: 'stale', table: str('table'), error: str('error') };
    case 'status':
      return { type: 'status', status: str('status') };
    case 'warning':
      return { type: 'warning', message: str('message') };
    default:
      throw new Error(`app printed an unknown line: ${text}`);
  }
}

/** Starts the app and resolves once it has loaded every table; kills it if that fails. */
export async function startApp(options: AppOptions): Promise<AppProcess> {
  const { mode = 'direct', channel, redisUrl, namespace } = options;
  const args = ['--import', 'tsx', APP, '--mode', mode, ...options.tables];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...options.env,
      DATABASE_URL: options.url,
      ...(channel === undefined ? {} : { PSC_CHANNEL: channel }),
      ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
      ...(namespace === undefined ? {} : { PSC_NAMESPACE: namespace }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: AppLine[] = [];
  const invalid: string[] = [];
  const digests = new Map<string, { version: number; digest: string }>();
  let status: string | undefined;
  let stderr = '';
  let exit: number | null | undefined;
  const exited = once(child, 'exit').then(([code]: unknown[]) => {
    exit = typeof code === 'number' ? code : null;
    return exit;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: AppLine;
    try {
      line = parseAppLine(text);
    } catch {
      invalid.push(text);
      return;
    }
    lines.push(line);
    if (line.type === 'status') status = line.status;
    if (line.type === 'reload') {
      const known = digests.get(line.table);
      // Versions only move forward; keep the newest even if lines were ever reordered.
      if (known === undefined || line.version > known.version) digests.set(line.table, line);
    }
  });

  const kill = async () => {
    if (exit !== undefined) return;
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async (timeoutMs = 10_000): Promise<number | null> => {
    if (exit !== undefined) return exit;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited.finally(() => clearTimeout(timer));
    if (child.signalCode === 'SIGKILL') {
      throw new Error(`app ${child.pid ?? '?'} ignored SIGTERM for ${timeoutMs} ms`);
    }
    return code;
  };

  try {
    await waitFor(
      `app ${options.tables.join(', ')} to be ready`,
      () => {
        if (exit !== undefined) throw new Error(`app exited with ${exit}: ${stderr.trim()}`);
        return lines.some((line) => line.type === 'ready');
      },
      options.readyTimeoutMs ?? 30_000,
    );
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    pid: child.pid ?? 0,
    lines,
    invalid,
    digestOf: (table) => digests.get(table)?.digest,
    lastStatus: () => status,
    get stderr() {
      return stderr;
    },
    stop,
    [Symbol.asyncDispose]: kill,
  };
}

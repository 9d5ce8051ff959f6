// A region's reload worker, `pg-static-cache worker` as an operator runs it (that region's Redis,
// `--replica`), and what its /metrics say about who served its table queries.
import { REPLICA_FALLBACK_REASONS } from '@pg-static-cache/postgres';
import { scrape, seriesValue } from '@pg-static-cache/test-support/metrics';
import {
  parseJsonLine,
  spawnCli,
  type SpawnedProcess,
} from '@pg-static-cache/test-support/process';
import { BENCH_NAMESPACE, type BenchUrls } from './workload.ts';

const STOP_TIMEOUT_MS = 5_000;
/** pino's level number of `warn`: the worker's lines at or above it are passed on to stderr. */
const WARN = 40;

/** Table queries of the worker's reload jobs: on the replica, or on the primary and why. */
export interface WorkerReads {
  readonly replica: number;
  /** By reason: `lagging`, `unavailable`. */
  readonly primary: Readonly<Record<string, number>>;
}

/** A running `pg-static-cache worker --replica` and where it serves /metrics. */
export class WorkerProcess {
  readonly #proc: SpawnedProcess;
  readonly #http: string;

  private constructor(proc: SpawnedProcess, http: string) {
    this.#proc = proc;
    this.#http = http;
  }

  /** Starts the worker on `urls` (the region's Redis), reading `replicaUrl`; resolves once it runs. */
  static async start(urls: BenchUrls, replicaUrl: string): Promise<WorkerProcess> {
    const proc = spawnCli(['worker', '--replica', replicaUrl, '--http-port', '0'], {
      env: {
        DATABASE_URL: urls.databaseUrl,
        REDIS_URL: urls.redisUrl,
        PSC_NAMESPACE: BENCH_NAMESPACE,
      },
    });
    try {
      // stdout: {"event":"started","worker","http"} once it takes jobs.
      const started = parseJsonLine(await proc.waitForLine((l) => l.includes('"started"')));
      const http = started?.['http'];
      if (typeof http !== 'string') throw new Error('the worker did not say where it serves');
      return new WorkerProcess(proc, http);
    } catch (error) {
      await proc.stop('SIGTERM', STOP_TIMEOUT_MS);
      throw error;
    }
  }

  /** Its counters now (`psc_reload_replica_reads_total`, `psc_reload_replica_fallbacks_total`). */
  async reads(): Promise<WorkerReads> {
    const text = await scrape(this.#http);
    const count = (series: string): number => seriesValue(text, series) ?? 0;
    return {
      replica: count('psc_reload_replica_reads_total'),
      primary: Object.fromEntries(
        REPLICA_FALLBACK_REASONS.map((reason) => [
          reason,
          count(`psc_reload_replica_fallbacks_total{reason="${reason}"}`),
        ]),
      ),
    };
  }

  /** SIGTERM (SIGKILL after 5 s); passes its warnings and errors on to stderr. */
  async stop(): Promise<void> {
    await this.#proc.stop('SIGTERM', STOP_TIMEOUT_MS);
    for (const line of this.#proc.stderrLines) {
      const level = parseJsonLine(line)?.['level'];
      if (typeof level !== 'number' || level >= WARN) process.stderr.write(`worker: ${line}\n`);
    }
  }
}

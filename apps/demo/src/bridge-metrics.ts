// Reading a bridge's Prometheus endpoint the way a scraper would: the demo shows the reload
// worker's retries from the same counter an operator alerts on.

/** The worker's job attempts by outcome (`completed`, `retried`, `failed`), as the bridge exports them. */
export const RELOAD_JOBS_METRIC = 'psc_reload_jobs_total';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The sum of the samples of `name` whose labels include `labels`, in Prometheus text format;
 * 0 when there is none (a counter not yet incremented may be absent).
 */
export function metricValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line);
    if (match?.[1] !== name) continue;
    const found = new Map([...(match[2] ?? '').matchAll(LABEL)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) {
      sum += Number(match[3]);
    }
  }
  return sum;
}

/** GET http://host:port/metrics, with a deadline. */
export async function scrapeMetrics(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<string> {
  const response = await fetch(`http://${host}:${port}/metrics`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw new Error(`GET /metrics on port ${port}: HTTP ${response.status}`);
  return response.text();
}

/** The port in a bridge's structured log line that announces its HTTP endpoints, if this is one. */
export function httpPortOf(logLine: string): number | undefined {
  try {
    const parsed = JSON.parse(logLine) as { httpPort?: unknown };
    return typeof parsed.httpPort === 'number' && parsed.httpPort > 0 ? parsed.httpPort : undefined;
  } catch {
    return undefined;
  }
}

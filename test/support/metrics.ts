// Reading Prometheus text as a scraper would: one series' value, or the whole page of an endpoint.
import { httpRequest } from './http.ts';

/**
 * The value of one series in Prometheus text, e.g. `psc_reload_queue_jobs{state="waiting"}`
 * (labels as the registry prints them), or undefined when the page has no such series.
 */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** GET `<base>/metrics` (base like `http://127.0.0.1:9464`); throws unless it answers 200. */
export async function scrape(base: string, timeoutMs = 10_000): Promise<string> {
  const answer = await httpRequest(`${base}/metrics`, { timeoutMs });
  if (answer.status !== 200) throw new Error(`${base}/metrics answered ${answer.status}`);
  return answer.text;
}

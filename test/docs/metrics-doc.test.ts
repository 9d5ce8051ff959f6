// docs/metrics.md lists every `psc_*` metric with its type, and so does any other page of docs/
// with a table of them (the operations runbook): compared here with what a running bridge (with
// its reload queue and worker) serves on /metrics and what the client collector registers, so a
// metric added, removed or retyped without every such page fails.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBridge } from '@pg-static-cache/bridge';
import { createSubscriber, StaticCache } from '@pg-static-cache/client';
import { registerCacheMetrics } from '@pg-static-cache/client/metrics';
import { repoRoot } from '@pg-static-cache/local-services';
import { namesFor } from '@pg-static-cache/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createTablesSchema } from '../support/fixtures/direct-mode.ts';
import { redisUrl, uniqueName } from '../support/index.ts';
import { scrape } from '../support/metrics.ts';

/** `psc_*` metric → type, from the `# TYPE` lines of a Prometheus page. */
function servedTypes(page: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of page.matchAll(/^# TYPE (psc_\w+) (\w+)$/gm)) {
    types.set(match[1] ?? '', match[2] ?? '');
  }
  return types;
}

/** `psc_*` metric → type, from the tables of docs/metrics.md (first column name, second type). */
function documentedTypes(markdown: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of markdown.matchAll(/^\| `(psc_\w+)` +\| (\w+) +\|/gm)) {
    const name = match[1] ?? '';
    expect(types.has(name), `${name} is listed twice`).toBe(false);
    types.set(name, match[2] ?? '');
  }
  return types;
}

describe('docs/metrics.md', () => {
  it('lists every psc_ metric of the bridge and the client collector, with its type', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_metrics_doc' });
    await using bridge = await startBridge({
      databaseUrl: schema.url,
      redisUrl: redisUrl(),
      namespace: namesFor(uniqueName('metrics_doc')).namespace,
      channel: schema.channel,
      httpPort: 0,
      logger: pino({ level: 'silent' }),
    });
    const served = servedTypes(await scrape(`http://127.0.0.1:${bridge.httpPort}`));

    const subscriber = createSubscriber({
      pg: schema.url,
      channel: schema.channel,
      caches: [new StaticCache({ table: 'items' })],
    });
    try {
      const registry = new Registry();
      registerCacheMetrics(subscriber, registry);
      for (const [name, type] of servedTypes(await registry.metrics())) served.set(name, type);
    } finally {
      await subscriber.close();
    }

    const docs = join(repoRoot, 'docs');
    const pages = readdirSync(docs)
      .filter((file) => file.endsWith('.md'))
      .map((file) => ({ file, types: documentedTypes(readFileSync(join(docs, file), 'utf8')) }))
      .filter(({ types }) => types.size > 0);
    expect(pages.map(({ file }) => file)).toContain('metrics.md');
    // Not vacuous: the bridge's, the queue's, the worker's and the client's families are all there.
    for (const name of [
      'psc_bridge_role',
      'psc_reload_queue_jobs',
      'psc_reload_jobs_total',
      'psc_client_cache_stale',
    ]) {
      expect(served.has(name), name).toBe(true);
    }
    for (const { file, types } of pages) {
      expect(Object.fromEntries(types), `docs/${file}`).toEqual(Object.fromEntries(served));
    }
  });
});

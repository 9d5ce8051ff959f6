// The `bridge` command's run; loaded only when it runs (see bridge.ts).
import { startBridge, type Bridge, type BridgeConfig } from '@pg-static-cache/bridge';
import { resolveTable } from '@pg-static-cache/postgres';
import type { DatabaseConfig, RedisConfig } from '../config.ts';
import { withClient } from '../database.ts';
import { httpUrl, printLine } from '../output.ts';
import { checkRedis } from '../redis.ts';
import { runUntilStopped } from '../run-until-stopped.ts';

/** What a bridge run needs: the CLI's own connection settings and the bridge's validated config. */
export interface BridgeRun {
  readonly database: DatabaseConfig;
  readonly redis: RedisConfig;
  readonly config: BridgeConfig;
}

// stdout: JSON lines for scripts and supervisors; the bridge's own logs are pino on stderr.
function announce(bridge: Bridge): void {
  const { id } = bridge;
  printLine(
    JSON.stringify({
      event: 'started',
      bridge: id,
      http: httpUrl(bridge.config.httpHost, bridge.httpPort),
      role: bridge.role,
    }),
  );
  bridge.on('role', (role) => printLine(JSON.stringify({ event: 'role', bridge: id, role })));
  bridge.on('term', ({ epoch, reason }) =>
    printLine(JSON.stringify({ event: 'term', bridge: id, epoch, reason })),
  );
}

/**
 * Checks what would stop the bridge at start — Redis, Postgres, the listed tables — with
 * the CLI's own one-shot connections, so such a failure is one stderr line rather than the
 * bridge's start-up and shutdown logs followed by the reason.
 */
async function preflight({ database, redis, config }: BridgeRun): Promise<void> {
  await checkRedis(redis);
  await withClient(database, async (client) => {
    for (const table of config.tables ?? []) await resolveTable(client, table);
  });
}

/** Runs a bridge until SIGINT or SIGTERM, printing its JSON lines on stdout. */
export function runBridge(run: BridgeRun): Promise<void> {
  return runUntilStopped(() => preflight(run).then(() => startBridge(run.config)), announce);
}

import { parseBridgeConfig, type BridgeConfigInput } from '../config.ts';
import { startHttpServer } from '../ops/http-server.ts';
import { createLogger } from '../ops/logger.ts';
import { processRegistry } from '../ops/metrics.ts';
import { ReloadWorker, type ReloadWorkerHooks } from './reload-worker.ts';

/** A reload worker running alone, with its own /healthz, /readyz and /metrics. */
export interface WorkerProcess {
  readonly id: string;
  readonly httpHost: string;
  readonly httpPort: number;
  close(): Promise<void>;
}

/**
 * Starts a reload worker without a bridge (`pg-static-cache worker`): it takes reload jobs from the
 * namespace's queue and stores snapshots; the jobs come from whichever bridge leads.
 */
export async function startWorkerProcess(
  input: BridgeConfigInput,
  hooks: ReloadWorkerHooks = {},
): Promise<WorkerProcess> {
  const config = parseBridgeConfig(input);
  const logger = createLogger(config);
  const registry = processRegistry();
  const worker = await ReloadWorker.start({ config, logger, registry, hooks });
  let stopping = false;
  const http = await startHttpServer({
    host: config.httpHost,
    port: config.httpPort,
    readiness: () => ({ ready: !stopping, body: { worker: config.bridgeId } }),
    registry,
    logger: logger.child({ component: 'http' }),
  }).catch(async (error: unknown) => {
    await worker.close();
    throw error;
  });
  logger.info({ httpHost: config.httpHost, httpPort: http.port }, 'reload worker process started');
  return {
    id: config.bridgeId,
    httpHost: config.httpHost,
    httpPort: http.port,
    close: async () => {
      stopping = true;
      await Promise.all([worker.close(), http.close()]);
    },
  };
}

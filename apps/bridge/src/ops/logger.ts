import { pino, type Logger } from 'pino';
import type { BridgeConfig } from '../config.ts';

/**
 * The bridge's root logger: the configured one, or pino JSON on stderr (stdout stays free for a
 * CLI's own output). Synchronous writes, so the last lines before an exit are not lost.
 */
export function createLogger(config: BridgeConfig): Logger {
  const base =
    config.logger ?? pino({ level: config.logLevel }, pino.destination({ dest: 2, sync: true }));
  return base.child({ bridge: config.bridgeId, namespace: config.namespace });
}

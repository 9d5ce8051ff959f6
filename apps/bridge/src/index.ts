export { Bridge, startBridge, type BridgeEvents } from './bridge.ts';
export {
  LOG_LEVELS,
  parseBridgeConfig,
  type BridgeConfig,
  type BridgeConfigInput,
} from './config.ts';
export type { BridgeHooks } from './context.ts';
export {
  parseControlMessage,
  serializeControlMessage,
  type ControlMessage,
  type ResyncDone,
  type ResyncRequest,
} from './control-messages.ts';
export { configFromEnv, type BridgeEnv } from './env-config.ts';
export { BridgeError, type BridgeErrorCode } from './errors.ts';
export { parseLease, type LeaseValue } from './lease.ts';
export type { BridgeRole } from './metrics.ts';
export { bridgesKey, type PresenceEntry } from './presence.ts';
export type { ResyncReport } from './scheduled-resync.ts';

export { Bridge, startBridge, type BridgeEvents } from './bridge.ts';
export {
  DEFAULT_ALLOWED_HOSTS,
  LOG_LEVELS,
  checkBridgeConfig,
  parseBridgeConfig,
  type BridgeConfig,
  type BridgeConfigInput,
  type ConfigCheck,
  type ConfigIssue,
} from './config.ts';
export type { BridgeHooks } from './publishing/publisher.ts';
export { BridgeError, type BridgeErrorCode } from './errors.ts';
export {
  loadConfig,
  type ConfigSources,
  type FlagValues,
  type SettingsEnv,
} from './load-config.ts';
export { BOARD_PATH } from './ops/queue-board.ts';
export { readQueueState, type QueueState } from './jobs/queue-state.ts';
export { RELOAD_JOB, type ReloadJobData } from './jobs/reload-job.ts';
export { ReloadQueue, type ReloadTarget } from './jobs/reload-queue.ts';
export {
  ReloadWorker,
  type ReloadResult,
  type ReloadWorkerEvents,
  type ReloadWorkerHooks,
  type ReloadWorkerOptions,
} from './jobs/reload-worker.ts';
export type { ResyncReport } from './resync/scheduled-resync.ts';
export { SnapshotStore, type StoreOutcome } from './jobs/snapshot-store.ts';
export {
  SETTINGS,
  settingsOf,
  type Setting,
  type SettingKey,
  type SettingKind,
  type SettingRole,
} from './settings.ts';
export { selectTextRows, type TextRows } from './jobs/table-snapshot.ts';
export { startWorkerProcess, type WorkerProcess } from './jobs/worker-process.ts';

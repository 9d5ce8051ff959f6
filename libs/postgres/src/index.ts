export { PostgresError, type PostgresErrorCode } from './errors.ts';
export {
  parseTableName,
  formatTableName,
  quoteIdent,
  quoteLiteral,
  type QualifiedName,
  type TableName,
} from './identifiers.ts';
export {
  resolveTable,
  resolveTableOid,
  currentTableOids,
  isUndefinedTable,
  type ResolvedTable,
  type TableMember,
  type Queryable,
} from './table.ts';
export {
  selectRowsSql,
  digestRows,
  RowDigests,
  TEXT_VALUES,
  textValues,
  type SelectRowsOptions,
} from './rows.ts';
export { streamRows, type ArrayQuery, type EachRow } from './row-stream.ts';
export {
  DEFAULT_CHANNEL,
  DEFAULT_FUNCTION_SCHEMA,
  triggerNaming,
  installSql,
  uninstallSql,
  installTriggers,
  uninstallTriggers,
  type TriggerOptions,
  type TriggerNaming,
  type ScriptOptions,
} from './triggers.ts';
export {
  checkTriggers,
  notifyChannel,
  type TriggerState,
  type TriggerReport,
} from './trigger-check.ts';
export {
  eventTriggerNaming,
  eventTriggerInstallSql,
  eventTriggerUninstallSql,
  installEventTrigger,
  uninstallEventTrigger,
  type EventTriggerNaming,
} from './event-trigger.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
export { FailureStreak, type FailureStreakReports } from './failure-streak.ts';
export {
  ListenConnection,
  type ListenConnectionOptions,
  type ListenConnectionEvents,
  type ListenStatus,
  type Notification,
} from './listen-connection.ts';
export { lsnValue, lsnText, currentWalPosition } from './wal-position.ts';
export {
  ReplayWatch,
  replayState,
  type ReplayState,
  type ReplayWait,
  type ReplayPollOptions,
} from './replay-watch.ts';
export {
  ReplicaReads,
  DEFAULT_REPLICA_WAIT_MS,
  REPLICA_FALLBACK_REASONS,
  type ReplicaReadsOptions,
  type ReplicaFallback,
  type ReplicaFallbackReason,
  type ReplicaOutcome,
} from './replica-reads.ts';

export { PostgresError, type PostgresErrorCode } from './errors.ts';
export {
  parseTableName,
  formatTableName,
  quoteIdent,
  quoteLiteral,
  type TableName,
} from './identifiers.ts';
export { resolveTable, type ResolvedTable, type Queryable } from './table.ts';
export { selectRowsSql, digestRows } from './rows.ts';
export {
  DEFAULT_CHANNEL,
  triggerNaming,
  installSql,
  uninstallSql,
  installTriggers,
  uninstallTriggers,
  checkTriggers,
  type TriggerOptions,
  type TriggerNaming,
  type TriggerState,
  type TriggerReport,
} from './triggers.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
export {
  ListenConnection,
  type ListenConnectionOptions,
  type ListenConnectionEvents,
  type ListenStatus,
  type Notification,
} from './listen-connection.ts';

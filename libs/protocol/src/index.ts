export {
  parseControlMessage,
  serializeControlMessage,
  type ControlMessage,
  type ResyncDone,
  type ResyncRequest,
} from './control-messages.ts';
export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { leaseTermPrefix, parseLease, serializeLease, type LeaseValue } from './lease.ts';
export {
  DEFAULT_NAMESPACE,
  namesFor,
  type Names,
  type RedisLayout,
  type SnapshotKeys,
} from './names.ts';
export {
  REDIS_URL_FORMS,
  parseRedisUrl,
  type ClusterEndpoint,
  type ClusterNodeAddress,
  type ClusterNodeOptions,
  type RedisEndpoint,
  type SingleEndpoint,
} from './redis-endpoint.ts';
export {
  MAX_MESSAGE_BYTES,
  isWorkerMessage,
  PROTOCOL_VERSION,
  RESYNC_REASONS,
  parseMessage,
  serializeMessage,
  type HeartbeatMessage,
  type InvalidateMessage,
  type Message,
  type ParseResult,
  type RejectReason,
  type ResyncMessage,
  type ResyncReason,
  type SnapshotDeltaMessage,
  type SnapshotMessage,
  type WorkerMessage,
} from './messages.ts';
export {
  applySnapshotDelta,
  keepingUnchanged,
  sameFields,
  sameTextRow,
  snapshotDelta,
  type SnapshotDelta,
  type TextRow,
} from './snapshot-delta.ts';
export {
  BRIDGE_ROLES,
  parsePresenceEntry,
  serializePresenceEntry,
  type BridgeRole,
  type PresenceEntry,
} from './presence.ts';
export {
  MIN_SIGNING_KEY_LENGTH,
  Signer,
  parseSigningKeys,
  type Opened,
  type SignatureReject,
} from './signing.ts';
export {
  createSnapshot,
  parseSnapshot,
  serializeSnapshot,
  snapshotContentDigest,
  type Snapshot,
  type SnapshotField,
  type SnapshotReject,
} from './snapshot.ts';

export { ProtocolError, type ProtocolErrorCode } from './errors.ts';
export { DEFAULT_NAMESPACE, namesFor, type Names } from './names.ts';
export {
  MAX_MESSAGE_BYTES,
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
  type SnapshotMessage,
} from './messages.ts';
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

import { ClientError } from './errors.ts';

/**
 * Options renamed so that one name has one meaning (`heartbeatTimeoutMs` was the LISTEN heartbeat
 * deadline in direct mode and the bridge's silence deadline in redis mode), and what to use now,
 * by mode. A JavaScript caller or a config file may still pass an old name: ignoring it would
 * change a deadline without a word, so it is refused with the new name.
 */
const RENAMED: Readonly<Record<string, (direct: boolean) => string>> = {
  heartbeatIntervalMs: () => 'listenHeartbeatIntervalMs (the LISTEN heartbeat period, direct mode)',
  heartbeatTimeoutMs: (direct) =>
    direct
      ? 'listenHeartbeatTimeoutMs in direct mode (bridgeSilenceMs in redis and snapshot mode)'
      : 'bridgeSilenceMs in redis and snapshot mode (listenHeartbeatTimeoutMs in direct mode)',
};

/** Throws ClientError INVALID_OPTIONS naming the new option when `options` holds an old name. */
export function rejectRenamedOptions(options: object, mode: string): void {
  for (const [old, renamed] of Object.entries(RENAMED)) {
    if (old in options) {
      throw new ClientError(
        'INVALID_OPTIONS',
        `${old} was renamed: use ${renamed(mode === 'direct')}`,
      );
    }
  }
}

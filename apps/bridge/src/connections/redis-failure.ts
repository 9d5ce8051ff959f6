/** How a Redis command failed: it answered with an error, or it could not be reached in time. */
export type RedisFailure = 'unreachable' | 'refused';

/**
 * Redis answered with an error (OOM under maxmemory, READONLY replica, a script error): it is up
 * but refuses. Anything else (closed connection, timeout, retries used up) is "unreachable".
 */
export function redisFailureOf(error: Error): RedisFailure {
  return error.name === 'ReplyError' ? 'refused' : 'unreachable';
}

/** What an on-call engineer reads in /readyz: who failed and Redis' own first line (never a value we sent). */
export function describeRedisFailure(error: Error): string {
  const line = (error.message.split('\n')[0] ?? '').slice(0, 200);
  return `${redisFailureOf(error) === 'refused' ? 'Redis refused' : 'Redis unreachable'}: ${line}`;
}

import { LOG_LEVELS, type BridgeConfigInput } from './config.ts';
import { BridgeError } from './errors.ts';

/** The environment a bridge process reads (only in main.ts; the CLI passes flags instead). */
export type BridgeEnv = Readonly<Record<string, string | undefined>>;

// Variable → config field, for the whole-number settings.
const NUMBERS = {
  PSC_LEASE_MS: 'leaseMs',
  PSC_RENEW_MS: 'renewMs',
  PSC_STANDBY_POLL_MS: 'standbyPollMs',
  PSC_HEARTBEAT_MS: 'heartbeatMs',
  PSC_LISTEN_HEARTBEAT_INTERVAL_MS: 'listenHeartbeatIntervalMs',
  PSC_LISTEN_HEARTBEAT_TIMEOUT_MS: 'listenHeartbeatTimeoutMs',
  PSC_HTTP_PORT: 'httpPort',
  PSC_POOL_MAX: 'poolMax',
  PSC_WORKER_CONCURRENCY: 'workerConcurrency',
  PSC_JOB_ATTEMPTS: 'jobAttempts',
  PSC_JOB_BACKOFF_MS: 'jobBackoffMs',
  PSC_JOB_LOCK_MS: 'jobLockMs',
  PSC_JOB_STALLED_INTERVAL_MS: 'jobStalledIntervalMs',
} as const satisfies Record<string, keyof BridgeConfigInput>;

function required(env: BridgeEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new BridgeError('INVALID_CONFIG', `no ${name}: set it in the environment`);
  }
  return value;
}

function logLevel(value: string | undefined): BridgeConfigInput['logLevel'] {
  if (value === undefined || value === '') return undefined;
  const level = LOG_LEVELS.find((l) => l === value);
  if (level === undefined) {
    throw new BridgeError(
      'INVALID_CONFIG',
      `PSC_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return level;
}

function flag(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new BridgeError('INVALID_CONFIG', `${name} must be 1 or 0 (true or false)`);
}

/**
 * Bridge config input from the environment: DATABASE_URL, REDIS_URL, PSC_NAMESPACE, PSC_CHANNEL,
 * PSC_FUNCTION_NAME, PSC_TRIGGER_NAME, PSC_BRIDGE_ID, PSC_TABLES (comma-separated), PSC_HTTP_HOST,
 * PSC_RESYNC_SCHEDULE, PSC_LOG_LEVEL, the PSC_*_MS / PSC_HTTP_PORT / PSC_POOL_MAX /
 * PSC_WORKER_CONCURRENCY / PSC_JOB_ATTEMPTS numbers, the PSC_JOBS / PSC_WORKER switches (1 or 0),
 * PSC_BOARD_USER and PSC_BOARD_PASSWORD.
 * Unset or empty variables leave the default; parseBridgeConfig validates the rest.
 */
export function configFromEnv(env: BridgeEnv): BridgeConfigInput {
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const numbers: Partial<Record<(typeof NUMBERS)[keyof typeof NUMBERS], number>> = {};
  for (const [name, field] of Object.entries(NUMBERS)) {
    const value = text(name);
    if (value === undefined) continue;
    if (!/^[0-9]{1,9}$/.test(value)) {
      throw new BridgeError('INVALID_CONFIG', `${name} must be a whole number`);
    }
    numbers[field] = Number(value);
  }
  const tables = text('PSC_TABLES')
    ?.split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  return {
    databaseUrl: required(env, 'DATABASE_URL'),
    redisUrl: required(env, 'REDIS_URL'),
    namespace: text('PSC_NAMESPACE'),
    channel: text('PSC_CHANNEL'),
    functionName: text('PSC_FUNCTION_NAME'),
    triggerName: text('PSC_TRIGGER_NAME'),
    bridgeId: text('PSC_BRIDGE_ID'),
    tables,
    httpHost: text('PSC_HTTP_HOST'),
    resyncSchedule: text('PSC_RESYNC_SCHEDULE'),
    logLevel: logLevel(text('PSC_LOG_LEVEL')),
    jobs: flag('PSC_JOBS', text('PSC_JOBS')),
    worker: flag('PSC_WORKER', text('PSC_WORKER')),
    boardUser: text('PSC_BOARD_USER'),
    boardPassword: text('PSC_BOARD_PASSWORD'),
    signingKeys: text('PSC_SIGNING_KEY')
      ?.split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
    ...numbers,
  };
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_CHANNEL, triggerNaming, type TriggerOptions } from '@pg-static-cache/postgres';
import { DEFAULT_NAMESPACE, namesFor, parseRedisUrl } from '@pg-static-cache/protocol';
import { validate as validCron } from 'node-cron';
import type { Logger } from 'pino';
import { z } from 'zod';
import { BridgeError } from './errors.ts';

/** Log levels the bridge accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A region: a Redis of its own that receives every message the leader publishes, and its own reload jobs. */
export interface RegionConfig {
  /** Names the region in metrics, /readyz, the status hash and logs (the charset of a namespace). */
  readonly name: string;
  /** The region's Redis. */
  readonly redisUrl: string;
}

/** One validated, frozen bridge configuration (build it with {@link parseBridgeConfig}). */
export interface BridgeConfig {
  /** The primary (a hot standby cannot LISTEN; PgBouncer transaction pooling breaks LISTEN and session locks). */
  readonly databaseUrl: string;
  /** The home Redis: the lease, epoch, control channel and status, and the home region's events and jobs. */
  readonly redisUrl: string;
  /**
   * More regions, each a Redis that receives every message the leader publishes (same channel,
   * epoch and seq) and its own reload jobs; see docs/regions.md. @default []
   */
  readonly regions: readonly RegionConfig[];
  /**
   * A streaming read replica of the primary: the reload worker queries tables there once it has
   * replayed the job's position (else the primary); see docs/guarantees.md. @default undefined
   */
  readonly replicaUrl?: string;
  /** How long a reload job waits for the replica to replay its position before it reads the primary. @default 2000 */
  readonly replicaWaitMs: number;
  /** Prefix of every Redis name (see `namesFor`). @default 'psc' */
  readonly namespace: string;
  /** The NOTIFY channel the triggers use. @default DEFAULT_CHANNEL ('pg_static_cache_update') */
  readonly channel: string;
  /** Trigger function name, for discovering watched tables. @default `public.<channel>` */
  readonly functionName?: string;
  /** Trigger name, for discovering watched tables. @default the channel */
  readonly triggerName?: string;
  /** Names this bridge in messages, the lease and logs. @default '<hostname>-<pid>-<4 random hex bytes>' */
  readonly bridgeId: string;
  /** Tables the scheduled resync checks; when absent, every table that has our trigger. @default undefined */
  readonly tables?: readonly string[];
  /** Lifetime of the Redis lease: a leader that has not renewed it for this long may be fenced. @default 3000 */
  readonly leaseMs: number;
  /** How often the leader renews its lease (at most leaseMs / 2). @default 1000 */
  readonly renewMs: number;
  /** How often a standby checks the leader lock and lease. @default 500 */
  readonly standbyPollMs: number;
  /** How often the leader publishes a heartbeat message. @default 2000 */
  readonly heartbeatMs: number;
  /** How often the LISTEN session proves itself with a NOTIFY to itself. @default 5000 */
  readonly listenHeartbeatIntervalMs: number;
  /** A LISTEN heartbeat not back by then means the session is dead. @default 3000 */
  readonly listenHeartbeatTimeoutMs: number;
  /** node-cron expression of the scheduled resync (trigger check and drift digest). @default '*\/5 * * * *' */
  readonly resyncSchedule: string;
  /** Address of the health, metrics and Bull Board endpoints. @default '127.0.0.1' */
  readonly httpHost: string;
  /** Port of those endpoints (fixed, so probes and scrapers know it); 0 picks a free one. @default 9464 */
  readonly httpPort: number;
  /**
   * Host header names (lowercase, IPv6 without brackets) Bull Board answers, against DNS
   * rebinding; `httpHost` is allowed too when it is a specific address. @default ['localhost', '127.0.0.1', '::1']
   */
  readonly allowedHosts: readonly string[];
  /** pino level of the bridge's own logger (ignored when `logger` is given). @default 'info' */
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Connections of the general pool (lock polling, catalog, resync digests). @default 4 */
  readonly poolMax: number;
  /** application_name of every bridge session, as pg_stat_activity shows it. @default 'pg-static-cache-bridge' */
  readonly applicationName: string;
  /** Log here instead of a new pino logger on stderr (an embedding app's logger). @default undefined */
  readonly logger?: Logger;
  /** Add a BullMQ reload job per changed table (leader) and serve Bull Board; false: messages only. @default true */
  readonly jobs: boolean;
  /** Run a reload worker in this process (with `jobs`); a standby's worker helps too. @default true */
  readonly worker: boolean;
  /** Reload jobs one worker runs at once (different tables; one table never runs twice at once). @default 2 */
  readonly workerConcurrency: number;
  /**
   * The leader's own worker reloads a changed table at once, without a job, when it last stored
   * it with at most this many rows; bigger tables, and failed inline reloads, go through the queue.
   * 0: every reload is a job. @default 1000
   */
  readonly inlineReloadRows: number;
  /** Tries per reload job before it is failed (kept for Bull Board). @default 5 */
  readonly jobAttempts: number;
  /** First retry delay of a failed reload job; doubles with each further try. @default 200 */
  readonly jobBackoffMs: number;
  /** BullMQ lock of a running job; a worker that dies holds it this long at most. @default 30000 */
  readonly jobLockMs: number;
  /** How often workers look for jobs whose worker died (their lock expired), to run them again. @default 30000 */
  readonly jobStalledIntervalMs: number;
  /** User name of Bull Board's basic auth. @default 'admin' */
  readonly boardUser: string;
  /** Password of Bull Board (at /queues): full access with it; without, read-only and localhost only. @default undefined */
  readonly boardPassword?: string;
  /**
   * Keys that sign messages and snapshots (HMAC-SHA256): the first signs, any verifies, so keys
   * rotate without a flag day. Empty: nothing is signed, and Redis write access is write access
   * to every snapshot-mode cache. @default []
   */
  readonly signingKeys: readonly string[];
}

type Optional = Omit<BridgeConfig, 'databaseUrl' | 'redisUrl' | 'regions'>;

/**
 * What {@link parseBridgeConfig} accepts: the two URLs, and any other field (undefined means
 * default); a region also as `name=url` text, as `--region` and PSC_REGIONS give it.
 */
export type BridgeConfigInput = Pick<BridgeConfig, 'databaseUrl' | 'redisUrl'> & {
  readonly [K in keyof Optional]?: Optional[K] | undefined;
} & { readonly regions?: readonly (RegionConfig | string)[] | undefined };

const whole = (min: number, max: number) =>
  z
    .number()
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const ms = (max: number) => whole(1, max);
const DAY_MS = 86_400_000;

/** The Host names Bull Board answers when none are configured: the loopback names. */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = Object.freeze([
  'localhost',
  '127.0.0.1',
  '::1',
]);

// A check that throws (libs/postgres, libs/protocol) turned into an issue on its own field.
const passes =
  (check: (value: string) => unknown) =>
  (value: string, ctx: z.RefinementCtx): void => {
    try {
      check(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'invalid' });
    }
  };

// One server (redis://, rediss://) or a cluster (redis-cluster://host:port,host:port); the message
// of a bad one never repeats the URL, which may hold a password.
const redisUrl = z.string().superRefine(passes(parseRedisUrl));

// The charset of a namespace (libs/protocol's namesFor): a region's name ends up in metric labels,
// log lines and the status hash. `home` names the home Redis in those places, so no region takes it.
const REGION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

const region = z.union([
  z.strictObject({ name: z.string(), redisUrl: z.string() }),
  // `name=url`: the name is what comes before the first '='. A URL is never echoed (it may hold a password).
  z.string().transform((text) => {
    const at = text.indexOf('=');
    return at < 0
      ? { name: text, redisUrl: '' }
      : { name: text.slice(0, at).trim(), redisUrl: text.slice(at + 1).trim() };
  }),
]);

const regions = z
  .array(region)
  .max(32)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    const urls = new Set<string>();
    for (const [index, { name, redisUrl: url }] of list.entries()) {
      const problem = !REGION_NAME.test(name)
        ? `region ${index + 1}: expected name=redis://host:port, the name 1-64 letters, digits, '_' or '-'`
        : name.toLowerCase() === 'home'
          ? 'region "home": that name is the home Redis (REDIS_URL); pick another'
          : seen.has(name.toLowerCase())
            ? `region "${name}" is given twice`
            : (redisUrlProblem(url, name) ??
              (urls.has(url) ? `region "${name}" uses the Redis of another region` : undefined));
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', message: problem });
        return;
      }
      seen.add(name.toLowerCase());
      urls.add(url);
    }
  });

function redisUrlProblem(url: string, name: string): string | undefined {
  const issue = redisUrl.safeParse(url).error?.issues[0];
  return issue === undefined ? undefined : `region "${name}": ${issue.message}`;
}

const hostName = z
  .string()
  .regex(/^(?:\[[0-9a-f:.]+\]|[a-z0-9.:_-]{1,253})$/i, 'expected a host name or IP address')
  .transform((host) => host.toLowerCase().replace(/^\[(.*)\]$/, '$1'));

const schema = z
  .strictObject({
    databaseUrl: z
      .string()
      .regex(/^postgres(?:ql)?:\/\//i, 'expected postgres://user:password@host:port/database')
      .refine((url) => URL.canParse(url), 'not a valid URL'),
    redisUrl,
    regions,
    replicaUrl: z
      .string()
      .regex(/^postgres(?:ql)?:\/\//i, 'expected postgres://user:password@host:port/database')
      .refine((url) => URL.canParse(url), 'not a valid URL')
      .optional(),
    replicaWaitMs: whole(0, DAY_MS).default(2_000),
    namespace: z
      .string()
      .default(DEFAULT_NAMESPACE)
      .superRefine(passes((namespace) => namesFor(namespace))),
    channel: z
      .string()
      .default(DEFAULT_CHANNEL)
      .superRefine(passes((channel) => triggerNaming({ channel }))),
    functionName: z
      .string()
      .superRefine(passes((functionName) => triggerNaming({ functionName })))
      .optional(),
    triggerName: z
      .string()
      .superRefine(passes((triggerName) => triggerNaming({ triggerName })))
      .optional(),
    bridgeId: z
      .string()
      .regex(/^[\x21-\x7e]{1,128}$/, 'use 1-128 printable ASCII characters without spaces')
      .optional(),
    tables: z.array(z.string().min(1)).min(1).max(10_000).optional(),
    leaseMs: ms(DAY_MS).default(3_000),
    renewMs: ms(DAY_MS).default(1_000),
    standbyPollMs: ms(DAY_MS).default(500),
    heartbeatMs: ms(DAY_MS).default(2_000),
    listenHeartbeatIntervalMs: ms(DAY_MS).default(5_000),
    listenHeartbeatTimeoutMs: ms(DAY_MS).default(3_000),
    resyncSchedule: z
      .string()
      .default('*/5 * * * *')
      .refine((expression) => validCron(expression), 'not a valid cron expression'),
    httpHost: z.string().min(1).default('127.0.0.1'),
    httpPort: whole(0, 65_535).default(9_464),
    allowedHosts: z
      .array(hostName)
      .min(1)
      .max(100)
      .default([...DEFAULT_ALLOWED_HOSTS]),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    poolMax: whole(1, 100).default(4),
    applicationName: z.string().max(63).default('pg-static-cache-bridge'),
    logger: z
      .custom<Logger>(
        (value) => typeof value === 'object' && value !== null && 'child' in value,
        'expected a pino logger',
      )
      .optional(),
    jobs: z.boolean().default(true),
    worker: z.boolean().default(true),
    workerConcurrency: whole(1, 64).default(2),
    inlineReloadRows: whole(0, 1_000_000).default(1_000),
    jobAttempts: whole(1, 100).default(5),
    jobBackoffMs: ms(DAY_MS).default(200),
    jobLockMs: ms(DAY_MS).default(30_000),
    jobStalledIntervalMs: ms(DAY_MS).default(30_000),
    boardUser: z
      .string()
      .regex(/^[^:]{1,128}$/, 'use 1-128 characters without ":"')
      .default('admin'),
    boardPassword: z.string().min(1).max(1_024).optional(),
    // 16: libs/protocol's MIN_SIGNING_KEY_LENGTH; refused here so a short key is a config error at
    // start (exit 2) rather than a failure deep inside the first signer that is built.
    signingKeys: z
      .array(z.string().min(16, 'each key needs at least 16 characters').max(1_024))
      .max(16)
      .default([]),
  })
  // Renewing at most every half lease leaves one missed renewal of slack before standbys may fence.
  .refine((c) => c.renewMs * 2 <= c.leaseMs, {
    error: 'must be at most half of leaseMs',
    path: ['renewMs'],
  })
  // A region on the home Redis would hear every message twice.
  .refine((c) => c.regions.every((r) => r.redisUrl !== c.redisUrl), {
    error: 'a region cannot use the home Redis (REDIS_URL)',
    path: ['regions'],
  });

/** Every field the schema knows, for the test that holds the settings table and its docs to it. */
export const CONFIG_FIELDS: readonly string[] = Object.freeze(Object.keys(schema.shape));

/** Why a config was refused: the field at fault (when one is) and what is wrong, never the value. */
export interface ConfigIssue {
  /** A {@link BridgeConfig} field name, or undefined when the whole input is at fault. */
  readonly field: string | undefined;
  readonly message: string;
}

/** The outcome of {@link checkBridgeConfig}. */
export type ConfigCheck =
  | { readonly ok: true; readonly config: BridgeConfig }
  | { readonly ok: false; readonly issue: ConfigIssue };

/** Validates the input and fills in every default (frozen), or says what is wrong; never throws. */
export function checkBridgeConfig(input: unknown): ConfigCheck {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    // The value itself is never echoed: a URL may carry a password.
    const issue = parsed.error.issues[0];
    const [first] = issue?.path ?? [];
    // An unknown key names itself in `keys`; the path of the object is empty then.
    const keys = issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : undefined;
    return {
      ok: false,
      issue: {
        field: typeof first === 'string' ? first : keys,
        message: issue?.message ?? 'invalid',
      },
    };
  }
  const {
    functionName,
    triggerName,
    bridgeId,
    tables,
    logger,
    boardPassword,
    signingKeys,
    allowedHosts,
    regions: regionList,
    replicaUrl,
    ...rest
  } = parsed.data;
  return {
    ok: true,
    config: Object.freeze({
      ...rest,
      bridgeId: bridgeId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`,
      ...(functionName === undefined ? {} : { functionName }),
      ...(triggerName === undefined ? {} : { triggerName }),
      ...(tables === undefined ? {} : { tables: Object.freeze([...tables]) }),
      ...(logger === undefined ? {} : { logger }),
      ...(boardPassword === undefined ? {} : { boardPassword }),
      ...(replicaUrl === undefined ? {} : { replicaUrl }),
      allowedHosts: Object.freeze([...new Set(allowedHosts)]),
      signingKeys: Object.freeze([...signingKeys]),
      regions: Object.freeze(regionList.map((r) => Object.freeze({ ...r }))),
    }),
  };
}

/** Validates the input, fills in every default, and freezes the result; throws BridgeError INVALID_CONFIG. */
export function parseBridgeConfig(input: BridgeConfigInput): BridgeConfig {
  const checked = checkBridgeConfig(input);
  if (checked.ok) return checked.config;
  const { field, message } = checked.issue;
  throw new BridgeError(
    'INVALID_CONFIG',
    `invalid bridge config: ${field === undefined ? '' : `${field}: `}${message}`,
  );
}

/** The trigger naming part of a config, as libs/postgres takes it. */
export function triggerOptionsOf(
  config: Pick<BridgeConfig, 'channel' | 'functionName' | 'triggerName'>,
): TriggerOptions {
  return Object.freeze({
    channel: config.channel,
    ...(config.functionName === undefined ? {} : { functionName: config.functionName }),
    ...(config.triggerName === undefined ? {} : { triggerName: config.triggerName }),
  });
}

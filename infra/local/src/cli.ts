// `npm run services -- start|stop|status|env|replica-delay`: the local Postgres and Redis (and, when
// asked for, a delayed replica, a second Redis and a Redis Cluster) for people and scripts.
import { parseArgs } from 'node:util';
import {
  servicesStatus,
  serviceUrls,
  setReplicaApplyDelay,
  startServices,
  stopServices,
  type LocalServicesOptions,
} from './index.ts';

const USAGE =
  'usage: npm run services -- start|env [--replica] [--replica-delay MS] [--second-redis] [--cluster] [--all] | status | stop | replica-delay MS';

const log = (line: string) => process.stderr.write(`[services] ${line}\n`);

/** Bad input: the one line the user sees, and exit code 2. */
class UsageError extends Error {}

function milliseconds(text: string | undefined, what: string): number {
  const value = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new UsageError(
      `${what} must be a whole number of milliseconds, got ${text ?? 'nothing'}`,
    );
  }
  return value;
}

function parse(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        replica: { type: 'boolean' },
        'replica-delay': { type: 'string' },
        'second-redis': { type: 'boolean' },
        cluster: { type: 'boolean' },
        all: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
}

/** The `export NAME=value` lines a shell can eval: the extras only when asked for. */
function exports(urls: Record<string, string | readonly string[] | undefined>): string {
  return Object.entries(urls)
    .filter((entry): entry is [string, string | readonly string[]] => entry[1] !== undefined)
    .map(
      ([name, value]) => `export ${name}=${typeof value === 'string' ? value : value.join(',')}\n`,
    )
    .join('');
}

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [command, ...rest] = positionals;
  const delay = values['replica-delay'];
  const options: LocalServicesOptions = {
    log,
    replica: values.replica === true || values.all === true || delay !== undefined,
    secondRedis: values['second-redis'] === true || values.all === true,
    cluster: values.cluster === true || values.all === true,
    ...(delay === undefined ? {} : { replicaDelayMs: milliseconds(delay, '--replica-delay') }),
  };
  if (rest.length > 0 && command !== 'replica-delay') throw new UsageError(USAGE);
  switch (command) {
    case 'start': {
      const services = await startServices(options);
      process.stdout.write(
        exports({
          DATABASE_URL: services.databaseUrl,
          REDIS_URL: services.redisUrl,
          REPLICA_URL: services.replicaUrl,
          SECOND_REDIS_URL: services.secondRedisUrl,
          REDIS_CLUSTER_URLS: services.clusterUrls,
        }),
      );
      return 0;
    }
    case 'stop':
      await stopServices(options);
      return 0;
    case 'status': {
      const pids = await servicesStatus(options);
      const show = (pid: number | undefined) => (pid === undefined ? 'stopped' : String(pid));
      process.stdout.write(
        [
          `postgres: ${show(pids.postgres)}`,
          `redis: ${show(pids.redis)}`,
          `replica: ${show(pids.replica)}`,
          `second redis: ${show(pids.secondRedis)}`,
          `redis cluster: ${pids.cluster.map(show).join(' ')}`,
        ].join('\n') + '\n',
      );
      return 0;
    }
    case 'env': {
      const urls = serviceUrls(options);
      process.stdout.write(
        exports({
          DATABASE_URL: urls.databaseUrl,
          REDIS_URL: urls.redisUrl,
          REPLICA_URL: options.replica === true ? urls.replicaUrl : undefined,
          SECOND_REDIS_URL: options.secondRedis === true ? urls.secondRedisUrl : undefined,
          REDIS_CLUSTER_URLS: options.cluster === true ? urls.clusterUrls : undefined,
        }),
      );
      return 0;
    }
    case 'replica-delay': {
      if (rest.length !== 1) throw new UsageError(USAGE);
      await setReplicaApplyDelay(
        serviceUrls(options).replicaUrl,
        milliseconds(rest[0], 'the delay'),
      );
      return 0;
    }
    default:
      throw new UsageError(USAGE);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`services: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);

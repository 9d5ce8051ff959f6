import { ProtocolError } from './errors.ts';

/** One seed node of a Redis Cluster. */
export interface ClusterNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** A single Redis server: the URL as given, for ioredis to read. */
export interface SingleEndpoint {
  readonly layout: 'single';
  readonly url: string;
}

/** What every node connection of a cluster takes, in the shape of ioredis' node options. */
export interface ClusterNodeOptions {
  readonly username?: string;
  readonly password?: string;
  /** TLS with the system's CAs (`rediss-cluster://`). */
  readonly tls?: Record<string, never>;
}

/** A Redis Cluster: seed nodes (the client learns the rest) and what every node connection takes. */
export interface ClusterEndpoint {
  readonly layout: 'cluster';
  readonly nodes: readonly ClusterNodeAddress[];
  readonly nodeOptions: ClusterNodeOptions;
}

/** Where a deployment's Redis is, as a `REDIS_URL` (or region URL) names it. */
export type RedisEndpoint = SingleEndpoint | ClusterEndpoint;

/** The forms {@link parseRedisUrl} accepts, for error messages. */
export const REDIS_URL_FORMS =
  'redis://[user:password@]host:port[/db], rediss://..., or redis-cluster://[user:password@]host:port,host:port,...';

const SINGLE = /^rediss?:\/\//i;
const CLUSTER = /^(rediss?)-cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i;
// host:port, the host a name, an IPv4 address or a bracketed IPv6 address; the port optional.
const NODE = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]{1,253})(?::(\d{1,5}))?$/i;
const DEFAULT_PORT = 6379;

function invalid(detail: string): ProtocolError {
  // The URL is never echoed: it may carry a password.
  return new ProtocolError(
    'INVALID_REDIS_URL',
    `not a valid Redis URL (${detail}); expected ${REDIS_URL_FORMS}`,
  );
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid('bad %-escape in the credentials');
  }
}

function node(text: string): ClusterNodeAddress {
  const match = NODE.exec(text.trim());
  const port = Number(match?.[2] ?? DEFAULT_PORT);
  if (match?.[1] === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalid('a cluster node is not host:port');
  }
  return Object.freeze({ host: match[1].replace(/^\[(.*)\]$/, '$1'), port });
}

/**
 * Reads a Redis URL: `redis://` and `rediss://` name one server, `redis-cluster://` and
 * `rediss-cluster://` a cluster by its seed nodes (comma-separated, any of the cluster's nodes).
 * Throws ProtocolError INVALID_REDIS_URL, whose message never contains the URL.
 */
export function parseRedisUrl(text: string): RedisEndpoint {
  const cluster = CLUSTER.exec(text);
  if (cluster !== null) {
    const [, scheme = '', credentials, hosts = ''] = cluster;
    const colon = credentials?.indexOf(':') ?? -1;
    const username =
      credentials === undefined
        ? ''
        : decode(colon < 0 ? credentials : credentials.slice(0, colon));
    const password =
      credentials === undefined || colon < 0 ? undefined : decode(credentials.slice(colon + 1));
    return Object.freeze({
      layout: 'cluster',
      nodes: Object.freeze(hosts.split(',').map(node)),
      nodeOptions: Object.freeze({
        ...(username === '' ? {} : { username }),
        ...(password === undefined ? {} : { password }),
        ...(scheme.toLowerCase() === 'rediss' ? { tls: {} } : {}),
      }),
    });
  }
  if (/^rediss?-cluster:/i.test(text)) throw invalid('a cluster URL takes no database or options');
  if (!SINGLE.test(text) || !URL.canParse(text)) throw invalid('unknown form');
  return Object.freeze({ layout: 'single', url: text });
}

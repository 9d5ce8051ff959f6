import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type Request, type RequestHandler } from 'express';
import { QueueReachability } from './queue-reachability.ts';

/** Where Bull Board is served on the bridge's HTTP server. */
export const BOARD_PATH = '/queues';

/**
 * How long the board waits for a region's Redis to answer before it leaves that region's queue
 * out of a page: Bull Board reads every queue's counts at once, so one Redis that hangs would hold
 * the whole board.
 */
export const REGION_QUEUE_TIMEOUT_MS = 1_000;

/** A queue the board shows: the home reload queue, or a region's (in that region's Redis). */
export interface BoardQueue {
  readonly queue: Queue;
  /** The region whose Redis holds the queue; undefined for home. */
  readonly region?: string | undefined;
}

/** Who may change the queues through the board. */
export interface BoardCredentials {
  readonly user: string;
  readonly password: string;
}

/** Who the board answers, and what they may do. */
export interface BoardAccess {
  /** With credentials, full access behind basic auth; without, read-only and loopback only. */
  readonly credentials: BoardCredentials | undefined;
  /** Host header names answered (lowercase, IPv6 without brackets), against DNS rebinding. */
  readonly allowedHosts: readonly string[];
  /** The address the server is bound to: allowed as a Host name too when it is a specific one. */
  readonly httpHost: string;
}

// Reading the board never changes a queue; every one of its changing routes (pause, resume, empty,
// retry, clean, promote, remove, add, update data, obliterate, concurrency) is PUT, POST or PATCH.
const READING = new Set(['GET', 'HEAD']);

// Hashing first gives both sides the same length, which timingSafeEqual needs, without leaking
// the expected length through an early return.
function sameText(a: string, b: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function refuse(status: 401 | 403, text: string): RequestHandler {
  return (_req, res) => {
    res.status(status).type('text/plain').send(`${text}\n`);
  };
}

/** HTTP basic auth against one user and password, compared in constant time. */
export function basicAuth(credentials: BoardCredentials, realm: string): RequestHandler {
  const expected = `${credentials.user}:${credentials.password}`;
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    const given = match?.[1] === undefined ? '' : Buffer.from(match[1], 'base64').toString('utf8');
    // Compared even when absent, so a missing header costs the same as a wrong one.
    if (sameText(given, expected) && match !== null) {
      next();
      return;
    }
    res.set('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`);
    refuse(401, 'authentication required')(req, res, next);
  };
}

/** The host name of a Host header (`name`, `name:port`, `[v6]:port`), lowercase; undefined if malformed. */
export function hostNameOf(header: string | undefined): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s]+))(?::[0-9]{1,5})?$/i.exec(header ?? '');
  return (match?.[1] ?? match?.[2])?.toLowerCase();
}

/** The names a board answers: the configured ones, and the bound address when it is a specific one. */
export function boardHostNames(
  access: Pick<BoardAccess, 'allowedHosts' | 'httpHost'>,
): Set<string> {
  const names = new Set(access.allowedHosts);
  const bound = hostNameOf(
    access.httpHost.includes(':') ? `[${access.httpHost}]` : access.httpHost,
  );
  // 0.0.0.0 and :: are every address, not a name anyone opens the board by.
  if (bound !== undefined && bound !== '0.0.0.0' && bound !== '::') names.add(bound);
  return names;
}

// A browser fetching an attacker's page whose name resolves to 127.0.0.1 (DNS rebinding) sends
// the attacker's name as Host: only the names the board is meant to be opened by are answered.
function hostGuard(names: ReadonlySet<string>): RequestHandler {
  return (req, res, next) => {
    const name = hostNameOf(req.get('host'));
    if (name !== undefined && names.has(name)) next();
    else refuse(403, 'host not allowed: add it to PSC_ALLOWED_HOSTS')(req, res, next);
  };
}

function isLoopback(address: string | undefined): boolean {
  const plain = address?.replace(/^::ffff:/i, '');
  return plain === '::1' || (isIP(plain ?? '') === 4 && plain?.startsWith('127.') === true);
}

// Without a password the board is for whoever sits at the machine: loopback peers, reading only.
const localReadOnly: RequestHandler = (req, res, next) => {
  if (!isLoopback(req.socket.remoteAddress)) {
    refuse(403, 'Bull Board without PSC_BOARD_PASSWORD answers only on localhost')(req, res, next);
  } else if (!READING.has(req.method)) {
    refuse(403, 'Bull Board is read-only: set PSC_BOARD_PASSWORD to change queues')(req, res, next);
  } else {
    next();
  }
};

// Basic auth rides along on every request a browser sends, even one another site's page starts:
// a changing request must come from the board's own origin (or from no browser at all).
function sameOrigin(req: Request): boolean {
  const origin = req.get('origin');
  if (origin === undefined) return req.get('sec-fetch-site') !== 'cross-site';
  return (
    URL.canParse(origin) && new URL(origin).host.toLowerCase() === req.get('host')?.toLowerCase()
  );
}

const ownOriginChanges: RequestHandler = (req, res, next) => {
  if (READING.has(req.method) || sameOrigin(req)) next();
  else refuse(403, 'cross-origin request refused')(req, res, next);
};

// A region's queue is named `<region>.<queue>` on the board (a region or namespace name has no
// '.', so it never meets the home queue's name) and labelled with its region. While the region's
// Redis does not answer, the queue is left out of every page and route (404), rather than failing
// the listing of the others; /readyz and psc_bridge_region_up say why.
function adapterOf({ queue, region }: BoardQueue, readOnlyMode: boolean): BullMQAdapter {
  if (region === undefined) return new BullMQAdapter(queue, { readOnlyMode });
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode,
    prefix: `${region}.`,
    displayName: `${queue.name} (region ${region})`,
    description: `Reload jobs for region ${region}, in its own Redis; its workers take them.`,
  });
  const reachability = new QueueReachability(queue, REGION_QUEUE_TIMEOUT_MS);
  adapter.setVisibilityGuard(() => reachability.answers());
  return adapter;
}

/**
 * Bull Board for `queues` (home first), to mount at {@link BOARD_PATH} (its base path must equal
 * the mount path, or its pages load their assets from the wrong place). Refuses Host names not
 * allowed; with credentials, full access behind basic auth; without, read-only for loopback
 * peers; the same for every queue. No cookies or sessions.
 */
export function queueBoard(queues: readonly BoardQueue[], access: BoardAccess): RequestHandler {
  const readOnlyMode = access.credentials === undefined;
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BOARD_PATH);
  createBullBoard({
    // Read-only queues also hide the board's buttons that would change them.
    queues: queues.map((queue) => adapterOf(queue, readOnlyMode)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'pg-static-cache reloads' } },
  });
  const router = express.Router();
  router.use(hostGuard(boardHostNames(access)));
  if (access.credentials === undefined) {
    router.use(localReadOnly);
  } else {
    router.use(basicAuth(access.credentials, 'pg-static-cache'), ownOriginChanges);
  }
  router.use(adapter.getRouter() as RequestHandler);
  return router;
}

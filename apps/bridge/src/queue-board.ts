import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type RequestHandler } from 'express';

/** Where Bull Board is served on the bridge's HTTP server. */
export const BOARD_PATH = '/queues';

/** Who may open the board. */
export interface BoardCredentials {
  readonly user: string;
  readonly password: string;
}

// Hashing first gives both sides the same length, which timingSafeEqual needs, without leaking
// the expected length through an early return.
function sameText(a: string, b: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
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
    res.status(401).type('text/plain').send('authentication required\n');
  };
}

/**
 * Bull Board for `queues`, to mount at {@link BOARD_PATH} (its base path must equal the mount
 * path, or its pages load their assets from the wrong place); behind basic auth with credentials.
 */
export function queueBoard(
  queues: readonly Queue[],
  credentials: BoardCredentials | undefined,
): RequestHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'pg-static-cache reloads' } },
  });
  const router = express.Router();
  if (credentials !== undefined) router.use(basicAuth(credentials, 'pg-static-cache'));
  router.use(adapter.getRouter() as RequestHandler);
  return router;
}

// The CLI's side of the control channel; loaded only when `resync` runs (see resync.ts).
import { randomUUID } from 'node:crypto';
import { on } from 'node:events';
import {
  namesFor,
  parseControlMessage,
  parseSigningKeys,
  serializeControlMessage,
  Signer,
  type ResyncDone,
} from '@pg-static-cache/protocol';
import { loadRedisConfig, parseTables, type CliEnv, type GlobalFlags } from '../config.ts';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit.ts';
import { printLine, printProblem } from '../output.ts';
import { RedisSession } from '../redis.ts';

/** The flags of `resync`. */
export interface ResyncFlags extends GlobalFlags {
  readonly table?: readonly string[];
  readonly namespace?: string;
  readonly signingKey?: string;
  readonly timeoutMs: number;
}

/** The first `resync-done` for `requestId` among `messages`; undefined once they are aborted. */
async function answerTo(
  messages: AsyncIterable<unknown[]>,
  channel: string,
  requestId: string,
  signer: Signer,
): Promise<ResyncDone | undefined> {
  try {
    for await (const [from, text] of messages) {
      if (from !== channel || typeof text !== 'string') continue;
      const message = parseControlMessage(text, signer);
      if (message?.type === 'resync-done' && message.requestId === requestId) return message;
    }
  } catch (error) {
    if (error instanceof Error && error.name === 'AbortError') return undefined;
    throw error;
  }
  return undefined;
}

/** Asks the leader for a resync and waits for its answer; the exit code says how it went. */
export async function resync(flags: ResyncFlags, env: CliEnv): Promise<ExitCode> {
  const tables = flags.table === undefined ? undefined : parseTables(flags.table);
  const config = loadRedisConfig(flags, env);
  const names = namesFor(flags.namespace ?? env['PSC_NAMESPACE'], config.endpoint.layout);
  const signer = new Signer(parseSigningKeys(flags.signingKey ?? env['PSC_SIGNING_KEY']));
  const requestId = randomUUID();
  const request = serializeControlMessage(
    {
      v: 1,
      type: 'resync-request',
      requestId,
      ...(tables === undefined ? {} : { tables: tables.map((t) => t.text) }),
    },
    signer,
  );

  await using session = await RedisSession.open(config);
  const subscriber = await session.subscriber();
  const signal = AbortSignal.timeout(flags.timeoutMs);
  // Sharded pub/sub in a cluster: the control channel lives on its namespace's shard.
  const sharded = names.layout === 'cluster';
  // Listening (and subscribed) before publishing, so even an instant answer is not missed.
  const messages = on(subscriber, sharded ? 'smessage' : 'message', { signal });
  try {
    await (sharded ? subscriber.ssubscribe(names.control) : subscriber.subscribe(names.control));
    // Our own subscription is one receiver; nobody else means no bridge runs in this namespace.
    const receivers = Number(
      await (sharded
        ? session.redis.spublish(names.control, request)
        : session.redis.publish(names.control, request)),
    );
    if (receivers <= 1) {
      printProblem(`no bridge is running in namespace ${names.namespace}`);
      return ExitCode.NOT_OK;
    }
    const done = await answerTo(messages, names.control, requestId, signer);
    if (done === undefined) {
      printProblem(
        `no leader answered within ${flags.timeoutMs} ms (namespace ${names.namespace})`,
      );
      return ExitCode.NOT_OK;
    }
    const by = `${done.bridge} (epoch ${done.epoch})`;
    if (!done.ok) {
      throw new CliError('REFUSED', `resync refused by ${by}: ${done.error ?? 'no reason given'}`);
    }
    const what = done.tables === undefined ? 'all tables' : done.tables.join(', ');
    printLine(`resync published by ${by}: ${what}`);
    return ExitCode.OK;
  } finally {
    await messages.return?.();
  }
}

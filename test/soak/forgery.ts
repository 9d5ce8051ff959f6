// What anyone with Redis access can put on the events channel: valid messages no bridge or worker
// sent, with positions far ahead of anything real (LSN FFFFFFFF/FFFFFFFF, huge epochs, seqs and
// versions); garbage; and real messages published again later. None of it may stop a cache from
// following the commits after it.
import { resolveTable } from '@pg-static-cache/postgres';
import {
  isWorkerMessage,
  MAX_MESSAGE_BYTES,
  parseMessage,
  parseSnapshot,
  serializeMessage,
  type Message,
} from '@pg-static-cache/protocol';
import type { SeededRandom } from './seeded-random.ts';
import type { SoakWorld } from './soak-world.ts';

/** The sender name forged messages carry, so they are never replayed as real ones. */
const FORGER = 'soak-forger';
const TOP_LSN = 'FFFFFFFF/FFFFFFFF';

/** A position no real counter reaches, or one just ahead of the real one (more plausible). */
function ahead(rng: SeededRandom, real: number): number {
  return rng.pick([Number.MAX_SAFE_INTEGER, 2 ** 40, real + 1, real + 1_000]);
}

/** The generation of the table's stored snapshot (the most convincing forgery), else a new one. */
async function generationOf(w: SoakWorld, display: string, rng: SeededRandom): Promise<string> {
  // Drawn whether used or not, so the random sequence does not depend on what Redis holds.
  const made = `forged-${rng.int(0, 1e9)}`;
  const raw = await w.admin.getBuffer(w.names.snapshot(display));
  const parsed = raw === null ? undefined : parseSnapshot(raw);
  return parsed?.ok === true ? parsed.snapshot.generation : made;
}

/** Publishes 1-4 valid forged messages about one table; returns what they were. */
export async function publishForgeries(w: SoakWorld, rng: SeededRandom): Promise<string> {
  const table = rng.pick(w.tables);
  const { oid } = await resolveTable(w.db.scenario.pool, table.sql);
  const epoch = (await w.bridges.lease())?.epoch ?? 1;
  const at = Date.now();
  const leader = { v: 1, bridge: FORGER, at } as const;
  const sent: string[] = [];
  for (let i = rng.int(1, 4); i > 0; i -= 1) {
    const position = { epoch: ahead(rng, epoch), seq: rng.pick([0, Number.MAX_SAFE_INTEGER]) };
    const kind = rng.pick(['invalidate', 'snapshot', 'resync', 'heartbeat'] as const);
    let message: Message;
    switch (kind) {
      case 'invalidate':
        message = { ...leader, ...position, type: kind, table: table.display, oid, lsn: TOP_LSN };
        break;
      case 'snapshot':
        message = {
          v: 1,
          type: kind,
          table: table.display,
          oid,
          version: ahead(rng, 1),
          generation: await generationOf(w, table.display, rng),
          key: w.names.snapshot(table.display),
          digest: '0'.repeat(64),
          lsn: TOP_LSN,
          at,
          worker: FORGER,
        };
        break;
      case 'resync':
        message = { ...leader, ...position, type: kind, reason: 'manual', tables: [table.display] };
        break;
      case 'heartbeat':
        message = { ...leader, ...position, type: kind };
        break;
    }
    await w.admin.publish(w.names.events, serializeMessage(message));
    const where = message.type === 'snapshot' ? `v${message.version}` : `e${position.epoch}`;
    sent.push(`${kind} ${where}`);
  }
  return `${sent.join(', ')} about ${table.display}`;
}

/** Publishes 1-5 payloads no reader may accept; returns their kinds. */
export async function publishGarbage(w: SoakWorld, rng: SeededRandom): Promise<string> {
  const real = w.events.raw.at(-1) ?? '{}';
  const payloads: Record<string, () => string | Buffer> = {
    bytes: () => Buffer.from(Array.from({ length: rng.int(1, 300) }, () => rng.int(0, 255))),
    truncated: () => real.slice(0, rng.int(0, real.length - 1)),
    'unknown version': () => real.replace('"v":1', '"v":2'),
    'wrong types': () => real.replace(/"seq":\d+/, '"seq":"1"').replace(/"oid":\d+/, '"oid":-1'),
    'not an object': () => rng.pick(['null', '[1,2,3]', '"invalidate"', '42']),
    'too large': () => `{"v":1,"pad":"${'x'.repeat(MAX_MESSAGE_BYTES)}"}`,
  };
  const kinds: string[] = [];
  for (let i = rng.int(1, 5); i > 0; i -= 1) {
    const kind = rng.pick(Object.keys(payloads));
    await w.admin.publish(w.names.events, payloads[kind]?.() ?? '');
    kinds.push(kind);
  }
  return kinds.join(', ');
}

/** Publishes 1-8 real messages seen earlier (any epoch, snapshots too) again; returns which. */
export async function replayMessages(w: SoakWorld, rng: SeededRandom): Promise<string> {
  const real = w.events.raw.flatMap((text) => {
    const parsed = parseMessage(text);
    if (!parsed.ok) return [];
    const sender = isWorkerMessage(parsed.message) ? parsed.message.worker : parsed.message.bridge;
    return sender === FORGER ? [] : [{ text, message: parsed.message }];
  });
  if (real.length === 0) throw new Error('no real message to replay yet');
  const chosen = Array.from({ length: rng.int(1, 8) }, () => rng.pick(real));
  for (const { text } of chosen) await w.admin.publish(w.names.events, text);
  return chosen
    .map(({ message: m }) =>
      isWorkerMessage(m) ? `${m.type} v${m.version}` : `${m.type} e${m.epoch}/s${m.seq}`,
    )
    .join(', ');
}

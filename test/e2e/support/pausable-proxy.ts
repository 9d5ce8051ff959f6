// A TCP proxy in front of Redis that can lose pub/sub messages: while paused, every message Redis
// delivers to a subscriber through it is dropped whole, and everything else (command replies,
// subscribe confirmations) still flows. The connection stays open and valid, so the client sees
// nothing wrong until a later message, or until its connection is killed. It can also freeze
// connections: a dead path that delivers nothing at all and never closes.
import net from 'node:net';
import { FrameSplitter } from './resp-frames.ts';

/** A running proxy; closing it destroys every connection it carries. */
export interface PausableProxy extends AsyncDisposable {
  /** `redis://127.0.0.1:<proxy port>`. */
  readonly url: string;
  /** From now on, drops the messages of every connection, open now or opened later. */
  pause(): void;
  /** Delivers messages again (the dropped ones stay lost). */
  resume(): void;
  /**
   * From now on, drops every byte either way on the connections open now, and never closes them
   * (no FIN or RST reaches the client, as when a network path dies). Later connections work.
   * Returns how many it froze.
   */
  freeze(): number;
  /** Messages dropped so far (by a pause, not counting frozen connections). */
  dropped(): number;
  /** Messages delivered so far. */
  delivered(): number;
  /** `127.0.0.1:<port>` of each proxied connection as Redis sees it (`addr` in CLIENT LIST). */
  upstreamAddresses(): string[];
  close(): Promise<void>;
}

// A pub/sub message is a 3-element push (RESP3) or array (RESP2) whose first element is "message".
const MESSAGE_HEADS = ['>3\r\n$7\r\nmessage\r\n', '*3\r\n$7\r\nmessage\r\n'].map((head) =>
  Buffer.from(head),
);
const isMessage = (frame: Buffer): boolean =>
  MESSAGE_HEADS.some((head) => frame.subarray(0, head.length).equals(head));

/** Starts a proxy on a free port of 127.0.0.1 forwarding to the Redis at `target` (a redis:// URL). */
export async function startPausableProxy(target: string): Promise<PausableProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  // Upstream socket → whether its connection is frozen.
  const upstreams = new Map<net.Socket, { frozen: boolean }>();
  const counts = { dropped: 0, delivered: 0 };
  let paused = false;
  const listener = net.createServer((client) => {
    const server = net.connect({ port: Number(port || 6379), host: hostname });
    const state = { frozen: false };
    sockets.add(client).add(server);
    upstreams.set(server, state);
    // Either side closing (CLIENT KILL, a client quitting) closes the other.
    const end = () => {
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
      upstreams.delete(server);
    };
    const frames = new FrameSplitter();
    client.on('data', (chunk: Buffer) => {
      if (!state.frozen) server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (state.frozen) return;
      let complete: Buffer[];
      try {
        complete = frames.push(chunk);
      } catch {
        // Not RESP after all: a broken stream ends, as a real one would.
        end();
        return;
      }
      for (const frame of complete) {
        if (!isMessage(frame)) client.write(frame);
        else if (paused) counts.dropped += 1;
        else {
          counts.delivered += 1;
          client.write(frame);
        }
      }
    });
    for (const socket of [client, server]) {
      socket.on('error', () => undefined);
      // A dead path carries no FIN either; close() tears frozen connections down.
      socket.on('close', () => {
        if (!state.frozen) end();
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', resolve);
  });
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  };
  return {
    url: `redis://127.0.0.1:${address.port}`,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
    },
    freeze() {
      const open = [...upstreams.values()].filter((s) => !s.frozen);
      for (const s of open) s.frozen = true;
      return open.length;
    },
    dropped: () => counts.dropped,
    delivered: () => counts.delivered,
    upstreamAddresses: () =>
      [...upstreams.keys()].map((socket) => `127.0.0.1:${socket.localPort ?? 0}`),
    close,
    [Symbol.asyncDispose]: close,
  };
}

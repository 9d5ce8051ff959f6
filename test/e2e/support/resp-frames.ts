// Splits a Redis protocol byte stream (RESP2 and RESP3) into whole frames, so a proxy can drop
// entire messages: dropping bytes at arbitrary places would corrupt the stream instead, which no
// real network does to a TCP connection.

// Types whose header line is the whole frame: simple string, error, integer, null, boolean,
// double, big number.
const LINE_TYPES = new Set(['+', '-', ':', '_', '#', ',', '(']);
// Bulk types: the header is a byte length, then the data and CRLF.
const BULK_TYPES = new Set(['$', '=', '!']);

/** Where the frame starting at `start` ends (exclusive), or undefined when it is not complete yet. */
export function frameEnd(buffer: Buffer, start: number): number | undefined {
  const lineEnd = buffer.indexOf('\r\n', start);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[start] ?? 0);
  const size = Number(buffer.toString('latin1', start + 1, lineEnd));
  const body = lineEnd + 2;
  if (LINE_TYPES.has(type)) return body;
  if (BULK_TYPES.has(type)) {
    if (size < 0) return body;
    const end = body + size + 2;
    return end <= buffer.length ? end : undefined;
  }
  // Aggregates: array, push, set (n elements), map and attribute (n key-value pairs).
  if (!['*', '>', '~', '%', '|'].includes(type) || !Number.isInteger(size)) {
    throw new Error(
      `not a RESP frame: ${JSON.stringify(buffer.toString('latin1', start, lineEnd))}`,
    );
  }
  const elements = size < 0 ? 0 : type === '%' || type === '|' ? size * 2 : size;
  let position: number | undefined = body;
  for (let i = 0; i < elements && position !== undefined; i += 1) {
    position = frameEnd(buffer, position);
  }
  // An attribute is followed by the reply it describes: both go together.
  return type === '|' && position !== undefined ? frameEnd(buffer, position) : position;
}

/** Collects chunks and hands out each complete frame once, in order. */
export class FrameSplitter {
  #pending: Buffer = Buffer.alloc(0);

  /** Adds `chunk` and returns the frames it completed. */
  push(chunk: Buffer): Buffer[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Buffer[] = [];
    let start = 0;
    for (;;) {
      const end = start < this.#pending.length ? frameEnd(this.#pending, start) : undefined;
      if (end === undefined) break;
      frames.push(this.#pending.subarray(start, end));
      start = end;
    }
    this.#pending = this.#pending.subarray(start);
    return frames;
  }
}

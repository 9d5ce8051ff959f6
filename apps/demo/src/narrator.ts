// The demo's story on stdout: one line per step, each stamped with the time since the start.

/** Writes stamped lines; `detail` lines sit indented under the step they belong to. */
export class Narrator {
  readonly #started = performance.now();
  readonly #write: (text: string) => void;

  constructor(write: (text: string) => void = (text) => void process.stdout.write(text)) {
    this.#write = write;
  }

  /** Seconds since the narrator was made. */
  get elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** A stamped line: `[  1.23s] text`. */
  line(text: string): void {
    this.#write(`[${this.elapsedSeconds.toFixed(2).padStart(6)}s] ${text}\n`);
  }

  /** A stamped line indented under the previous one. */
  detail(text: string): void {
    this.line(`    ${text}`);
  }

  /** Unstamped text, for tables and instructions. */
  plain(text: string): void {
    this.#write(`${text}\n`);
  }
}

/** Milliseconds for people: one decimal below 100 ms, whole numbers above. */
export function formatMs(ms: number): string {
  return ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

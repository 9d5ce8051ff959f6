// A subscriber under test, run as its own process: its report lines come with the time the driver
// read them, and the driver waits on them with deadlines.
import type { SpawnedProcess } from '@pg-static-cache/test-support/process';
import { parseWatchEvent, type WatchEvent } from '@pg-static-cache/test-support/watch-process';
import type { Expected } from './local-table.ts';
import type { ReportLine } from './protocol.ts';
import type { SpawnOptions, SubscriberCommand } from './systems.ts';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

/** A running subscriber process and every report line it printed so far. */
export class SubscriberProcess {
  readonly system: string;
  /** `performance.now()` in the driver when the process was spawned. */
  readonly spawnedAt = performance.now();
  readonly #command: SubscriberCommand;
  readonly #proc: SpawnedProcess;
  #stopped = false;

  private constructor(command: SubscriberCommand, options: SpawnOptions) {
    this.system = command.system;
    this.#command = command;
    this.#proc = command.spawn(options);
  }

  /** Starts the process without waiting for it (see {@link ready}); the caller must stop it. */
  static spawn(command: SubscriberCommand, options: SpawnOptions): SubscriberProcess {
    return new SubscriberProcess(command, options);
  }

  /** Starts the process and resolves once it reported its first load. */
  static async start(
    command: SubscriberCommand,
    options: SpawnOptions,
  ): Promise<SubscriberProcess> {
    const subscriber = new SubscriberProcess(command, options);
    try {
      await subscriber.ready();
      return subscriber;
    } catch (error) {
      await subscriber.stop();
      throw error;
    }
  }

  /** The `ready` line (its first load, listening), waiting up to a minute for it. */
  async ready(): Promise<ReportLine> {
    const line = await this.waitFor((l) => l.kind === 'ready', 0, READY_TIMEOUT_MS);
    if (line === undefined) throw new Error(`${this.system} subscriber never reported ready`);
    return line;
  }

  /** The process id (undefined if it never started): the driver reads its VmRSS from /proc. */
  get pid(): number | undefined {
    return this.#proc.child.pid;
  }

  /** Why the process is no longer running, or undefined while it runs. */
  get ended(): string | undefined {
    const { exitCode, signalCode } = this.#proc.child;
    if (exitCode === null && signalCode === null) return undefined;
    return `${this.system} subscriber exited (${signalCode ?? `code ${exitCode}`})`;
  }

  /** Where its output stands: pass to {@link since} and the waits to look only at what follows. */
  mark(): number {
    return this.#proc.lines.length;
  }

  /** Report lines from mark `from` on. */
  since(from: number): ReportLine[] {
    return this.#proc.lines.slice(from).flatMap((text, i) => this.#report(text, from + i) ?? []);
  }

  /** Reloads reported so far. */
  get reloads(): number {
    const { lines } = this.#proc;
    for (let i = lines.length - 1; i >= 0; i -= 1) {
      const report = this.#command.read(lines[i] ?? '');
      if (report !== undefined) return report.count;
    }
    return 0;
  }

  /**
   * The first line from mark `from` on that shows the cache holding the change `expected` names
   * (`change`: the latency's stop) or equal to the table it describes (`table`: a burst's end).
   */
  waitToShow(
    expected: Expected,
    what: 'change' | 'table',
    from: number,
    timeoutMs: number,
  ): Promise<ReportLine | undefined> {
    const command = this.#command;
    const shows = (line: ReportLine): boolean =>
      what === 'change' ? command.showsChange(line, expected) : command.showsTable(line, expected);
    return this.waitFor(shows, from, timeoutMs);
  }

  /**
   * The first line from mark `from` on that matches (`match` must not look at `at`, known only
   * once the line is found), or undefined after `timeoutMs`. Rejects if the process exits first:
   * a dead subscriber is an error, not a slow one.
   */
  async waitFor(
    match: (line: ReportLine) => boolean,
    from: number,
    timeoutMs: number,
  ): Promise<ReportLine | undefined> {
    const command = this.#command;
    let text: string;
    try {
      text = await this.#proc.waitForLine(
        (t) => {
          const report = command.read(t);
          return report !== undefined && match({ ...report, at: Number.NaN });
        },
        { from, timeoutMs },
      );
    } catch (error) {
      const ended = this.ended;
      if (ended === undefined) return undefined;
      throw new Error(`${ended}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    // The same text parses and matches the same: its first occurrence from `from` is the match.
    return this.#report(text, this.#proc.lines.indexOf(text, from));
  }

  /** SIGTERM, then SIGKILL if it has not exited in time; passes on what it said besides its status. Safe twice. */
  async stop(): Promise<void> {
    await this.#proc.stop('SIGTERM', STOP_TIMEOUT_MS);
    if (this.#stopped) return;
    this.#stopped = true;
    for (const line of this.#proc.stderrLines) {
      const event = parseWatchEvent(line)?.event;
      // Statuses and (`--events`) versions are the run going as planned, counted where needed.
      if (line !== '' && event !== 'status' && event !== 'reload' && event !== 'applied')
        process.stderr.write(`${this.system}: ${line}\n`);
    }
  }

  /**
   * When `watch --events` said it serves `version` (its `applied` event, printed before the
   * version's digest is computed), in the driver's `performance.now()`; undefined if it did not.
   */
  appliedAt(version: number): number | undefined {
    const { stderrLines, stderrLineTimes } = this.#proc;
    const index = stderrLines.findIndex((line) => {
      const event = parseWatchEvent(line);
      return event?.event === 'applied' && event.version === version;
    });
    return index < 0 ? undefined : stderrLineTimes[index];
  }

  /** What `watch --events` said on stderr so far, parsed (other lines left out). */
  events(): WatchEvent[] {
    return this.#proc.stderrLines.flatMap((line) => parseWatchEvent(line) ?? []);
  }

  #report(text: string, index: number): ReportLine | undefined {
    const report = this.#command.read(text);
    return report === undefined
      ? undefined
      : { ...report, at: this.#proc.lineTimes[index] ?? Number.NaN };
  }
}

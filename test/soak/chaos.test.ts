// The chaos soak (issue 7, item 10): under a steady write load, two bridges and one app per mode
// (direct, redis, snapshot) live through a seeded random schedule of faults — leader SIGKILL and
// SIGSTOP, Postgres and Redis restarts, FLUSHALL, LISTEN backends killed, forged, garbage and
// replayed messages, messages dropped on the way to an app, a table dropped and created again.
// After each fault the writes stop, and every app must come to hold exactly the database's rows
// of every table and say `ready`, within a deadline. It reports the worst staleness per fault kind.
//   PSC_SOAK_SECONDS=600  schedule faults for that long (default 60; start-up comes on top)
//   PSC_SOAK_SEED=<n>     replay a run's schedule (each run prints its seed; a failure says it too)
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { databaseDigests, waitEqualToDatabase } from './equal-to-database.ts';
import { FAULT_KINDS, FAULTS, type FaultKind } from './faults.ts';
import { SeededRandom } from './seeded-random.ts';
import {
  formatSequence,
  formatWorstTable,
  worstStaleness,
  writeSoakReport,
  type FaultRecord,
} from './soak-report.ts';
import { startSoakWorld, type SoakWorld } from './soak-world.ts';
import { startWriteLoad, type WriteLoad } from './write-load.ts';

function envInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a whole number, not ${JSON.stringify(text)}`);
  }
  return value;
}

const SECONDS = envInteger('PSC_SOAK_SECONDS', 60);
const SEED = envInteger('PSC_SOAK_SEED', randomInt(2 ** 31));
/**
 * After things quiet down, every app must hold the database's rows within this. Generous: two
 * busy cores, a snapshot-mode app may wait 2 s for a snapshot before it asks Postgres, an app
 * takes a bridge for silent after 6 s, and a frozen leader is fenced after its lease.
 */
const CONVERGE_MS = 30_000;
/** Cold `tsx` starts of five processes on two busy cores. */
const START_MS = 90_000;
const WRITE_INTERVAL_MS = 40;

/** What a failure message needs: the faults so far and the one under way. */
interface Progress {
  readonly records: FaultRecord[];
  current: string | undefined;
}

/** One fault, then the quiet period and the wait for convergence; adds its record to `progress`. */
async function cycle(
  w: SoakWorld,
  load: WriteLoad,
  rng: SeededRandom,
  kind: FaultKind,
  progress: Progress,
  at: number,
): Promise<void> {
  const n = progress.records.length + 1;
  progress.current = `${n}. +${at.toFixed(1)} s ${kind}`;
  const startedAt = performance.now();
  const outcome = await FAULTS[kind](w, rng);
  const endedAt = performance.now();
  progress.current += `: ${outcome.detail}`;
  // Real commits after the fault: whatever it did must not stop them from reaching the apps.
  await load.committedSince(endedAt, CONVERGE_MS);
  await delay(rng.int(0, 1_000));
  const quietAt = Math.max(await load.pause(), endedAt);
  const expected = await databaseDigests(w.db.scenario.pool, w.tables, CONVERGE_MS);
  const remaining = Math.max(0, quietAt + CONVERGE_MS - performance.now());
  const converged = await waitEqualToDatabase(w.apps, expected, remaining);
  progress.records.push({
    n,
    kind,
    detail: outcome.detail,
    atS: Math.round(at * 10) / 10,
    faultMs: Math.round(endedAt - startedAt),
    stalenessMs: Math.round(Math.max(0, converged.at - quietAt)),
    sinceFaultEndMs: Math.round(Math.max(0, converged.at - endedAt)),
    last: converged.last,
  });
  progress.current = undefined;
  await outcome.after;
  load.resume();
}

/** Runs the whole soak; the returned counts are the load's commits. */
async function soak(rng: SeededRandom, progress: Progress) {
  await using w = await startSoakWorld();
  try {
    await w.bridges.leader(START_MS);
    // The leader's takeover resync: the first real message, which a `replayed` fault may replay.
    await w.events.waitFor('the takeover resync', (m) => m.type === 'resync', {
      timeoutMs: START_MS,
    });
    // No writes yet: the rows every app loaded at start.
    const initial = await databaseDigests(w.db.scenario.pool, w.tables, START_MS);
    await waitEqualToDatabase(w.apps, initial, START_MS);
    const load = startWriteLoad(w.tables, WRITE_INTERVAL_MS);
    try {
      const begin = performance.now();
      // Each kind once per round, in a random order: every kind comes up in a long enough run.
      let round: FaultKind[] = [];
      while (performance.now() - begin < SECONDS * 1_000) {
        if (round.length === 0) round = rng.shuffle(FAULT_KINDS);
        const kind = round.shift() ?? 'forged';
        await cycle(w, load, rng, kind, progress, (performance.now() - begin) / 1_000);
        await delay(rng.int(200, 1_500));
      }
    } finally {
      await load.stop();
    }
    return load.counts();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\n--- recent output ---\n${w.describe()}`, { cause: error });
  }
}

describe('chaos soak', () => {
  it(
    `every app of every mode equals the database after each fault (seed ${SEED})`,
    { timeout: START_MS + SECONDS * 1_000 + 150_000 },
    async () => {
      const rng = new SeededRandom(SEED);
      const progress: Progress = { records: [], current: undefined };
      const replay = `PSC_SOAK_SEED=${SEED} PSC_SOAK_SECONDS=${SECONDS}`;
      console.log(`chaos soak: seed ${SEED}, ${SECONDS} s of faults (replay: ${replay})`);
      const startedAt = performance.now();
      let counts = { commits: 0, failures: 0 };
      let error: string | undefined;
      try {
        counts = await soak(rng, progress);
      } catch (cause) {
        error = cause instanceof Error ? cause.message : String(cause);
        const failing = progress.current === undefined ? '' : `\n  ${progress.current} ← failed`;
        throw new Error(
          `chaos soak failed; replay with ${replay}\nfaults so far:\n` +
            `${formatSequence(progress.records)}${failing}\n${error}`,
          { cause },
        );
      } finally {
        const path = await writeSoakReport({
          seed: SEED,
          seconds: SECONDS,
          passed: error === undefined,
          ...(error === undefined ? {} : { error }),
          durationS: Math.round((performance.now() - startedAt) / 100) / 10,
          commits: counts.commits,
          failedCommits: counts.failures,
          faults: progress.records,
          worstStalenessMs: worstStaleness(progress.records),
        });
        console.log(
          `${formatSequence(progress.records)}\n\n${formatWorstTable(progress.records)}\n(${path})`,
        );
      }
      expect(progress.records.length).toBeGreaterThan(0);
      expect(counts.commits).toBeGreaterThan(progress.records.length);
    },
  );
});

// The bridge's folders are rooms, each standing above the ones it imports: a reader follows a
// concept downwards and never has to walk back up. This reads the imports of every source file
// and fails on one that runs upstairs (or sideways into a room not below it).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = import.meta.dirname;

/** The rooms, lowest first: each may import only from the rooms before it (and the ground). */
const ROOMS = ['connections', 'ops', 'jobs', 'resync', 'publishing', 'election'] as const;
/** Files at the root that every room may use: they import no room themselves. */
const GROUND = [
  'config.ts',
  'settings.ts',
  'load-config.ts',
  'errors.ts',
  'process-runner.ts',
  'folded-flights.ts',
];

type Place = { kind: 'ground' } | { kind: 'room'; level: number; name: string } | { kind: 'top' };

function placeOf(file: string): Place {
  const [first = '', ...rest] = file.split('/');
  if (rest.length === 0) return GROUND.includes(first) ? { kind: 'ground' } : { kind: 'top' };
  const level = ROOMS.indexOf(first as (typeof ROOMS)[number]);
  if (level < 0) throw new Error(`${file} is in a folder that is not a room: add it to ROOMS`);
  return { kind: 'room', level, name: first };
}

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')
      ? [relative(SRC, path)]
      : [];
  });
}

/** The bridge files `file` imports (static, type-only and dynamic), relative to src. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.\.?\/[^']+)'/g)];
  return specifiers.map((m) => normalize(join(dirname(file), m[1] ?? '')));
}

/** Why `from` may not import `to`, or undefined when it may. */
function wrongWay(from: string, to: string): string | undefined {
  const a = placeOf(from);
  const b = placeOf(to);
  if (a.kind === 'top') return undefined;
  if (b.kind === 'top') return 'imports the top (bridge, index, the mains)';
  if (a.kind === 'ground' && b.kind === 'room') return `ground file imports the room ${b.name}`;
  if (a.kind === 'room' && b.kind === 'room' && b.level > a.level) {
    return `${a.name} imports ${b.name}, a room above it`;
  }
  return undefined;
}

describe('apps/bridge/src rooms', () => {
  it('every import runs down (or stays in its room)', () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(30);
    const wrong = files.flatMap((from) =>
      importsOf(from).flatMap((to) => {
        const why = wrongWay(from, to);
        return why === undefined ? [] : [`${from} -> ${to}: ${why}`];
      }),
    );
    expect(wrong).toEqual([]);
  });

  it('tells an upward import apart (the check itself)', () => {
    expect(wrongWay('publishing/publisher.ts', 'election/leader-term.ts')).toMatch(/a room above/);
    expect(wrongWay('config.ts', 'ops/logger.ts')).toMatch(/ground file/);
    expect(wrongWay('jobs/reload-queue.ts', 'bridge.ts')).toMatch(/the top/);
    expect(wrongWay('election/leader-term.ts', 'publishing/publisher.ts')).toBeUndefined();
  });
});

// The subscribers under test, each started as its own process with the same driver (the bridged
// one after a bridge process).
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import type { SubscriberCommand } from './subscriber-process.ts';

/** Ruby Sequel's pg_static_cache_updater with a static_cache model. */
export const SEQUEL: SubscriberCommand = Object.freeze({
  system: 'sequel',
  command: 'ruby',
  args: [join(repoRoot, 'bench', 'sequel', 'subscriber.rb')],
  cwd: repoRoot,
});

// Our subscribers are TypeScript files in bench/src, each run as `node --import tsx <file>`.
function ours(system: string, file: string, bridged: boolean): SubscriberCommand {
  return Object.freeze({
    system,
    command: process.execPath,
    args: ['--import', 'tsx', join(repoRoot, 'bench', 'src', file)],
    cwd: repoRoot,
    ...(bridged ? { bridged: true } : {}),
  });
}

/** Our direct-mode subscriber with default settings. */
export const OURS = ours('ours', 'subscriber-direct.ts', false);

/** Our redis-mode subscriber with default settings, following a bridge process with default settings. */
export const BRIDGED = ours('ours-bridged', 'subscriber-redis.ts', true);

/** Our snapshot-mode subscriber with default settings, following a bridge (reload jobs and worker on, its defaults). */
export const SNAPSHOT = ours('ours-snapshot', 'subscriber-snapshot.ts', true);

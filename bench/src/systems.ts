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

/** Our direct-mode subscriber with default settings. */
export const OURS: SubscriberCommand = Object.freeze({
  system: 'ours',
  command: process.execPath,
  args: ['--import', 'tsx', join(repoRoot, 'bench', 'src', 'subscriber-direct.ts')],
  cwd: repoRoot,
});

/** Our redis-mode subscriber with default settings, following a bridge process with default settings. */
export const BRIDGED: SubscriberCommand = Object.freeze({
  system: 'ours-bridged',
  command: process.execPath,
  args: ['--import', 'tsx', join(repoRoot, 'bench', 'src', 'subscriber-redis.ts')],
  cwd: repoRoot,
  bridged: true,
});

/** Our snapshot-mode subscriber with default settings, following a bridge (reload jobs and worker on, its defaults). */
export const SNAPSHOT: SubscriberCommand = Object.freeze({
  system: 'ours-snapshot',
  command: process.execPath,
  args: ['--import', 'tsx', join(repoRoot, 'bench', 'src', 'subscriber-snapshot.ts')],
  cwd: repoRoot,
  bridged: true,
});

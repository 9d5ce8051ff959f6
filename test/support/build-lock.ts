// Tests that build dist/ and pack the packages (the consumer test, the image layout) take turns:
// two `tsc -b` runs writing the same files while `npm pack` reads them could pack a half-written
// file. mkdir is atomic, so a folder is the lock.
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';

const LOCK = join(repoRoot, '.local', 'build.lock');

/** Runs `fn` holding the repository's build lock; waits at most `timeoutMs` for it. */
export async function withBuildLock<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  await mkdir(join(repoRoot, '.local'), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(LOCK);
      break;
    } catch {
      // A lock older than any build was left by a killed run.
      const since = await stat(LOCK).then(
        (s) => s.mtimeMs,
        () => Date.now(),
      );
      if (Date.now() - since > timeoutMs) await rm(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${LOCK} held for more than ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

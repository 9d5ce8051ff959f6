// Stopping a child process of the bench: politely first, for good after a deadline.
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';

const STOP_TIMEOUT_MS = 5_000;

/** SIGTERM, then SIGKILL if it has not exited in time; resolves once it has exited. Safe twice. */
export async function stopChild(child: ChildProcess, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
  // No pid: it never started (spawn failed), so there is nothing to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

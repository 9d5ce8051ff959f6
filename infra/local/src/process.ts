import { spawn, type SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Runs a command to completion and resolves with its output; rejects with the output on failure. */
export function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output.trim()}`));
    });
  });
}

/** True when `pid` is a live process whose command line contains `name` (guards against PID reuse). */
export async function isRunning(pid: number, name: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(name);
  } catch {
    // No /proc (not Linux): trust the signal check.
    return true;
  }
}

/** Reads the first line of a PID file as a number, or undefined when missing or unreadable. */
export async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Polls `probe` until it resolves true or the deadline passes. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends `signal` and waits until the process is gone; escalates to SIGKILL after `timeoutMs`. */
export async function stopPid(
  pid: number,
  name: string,
  signal: NodeJS.Signals,
  timeoutMs = 15_000,
): Promise<void> {
  if (!(await isRunning(pid, name))) return;
  process.kill(pid, signal);
  try {
    await waitUntil(
      `${name} (pid ${pid}) to exit`,
      async () => !(await isRunning(pid, name)),
      timeoutMs,
    );
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitUntil(
      `${name} (pid ${pid}) to die`,
      async () => !(await isRunning(pid, name)),
      5_000,
    );
  }
}

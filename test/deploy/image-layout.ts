// The image without Docker: the build stage's commands after its last COPY, run verbatim from the
// repository root (what `COPY . .` and `npm ci` leave in /src is this checkout), with PACKS and APP
// pointed at a temporary folder as `--build-arg` would; then the runtime stage's environment,
// ENTRYPOINT, CMD and HEALTHCHECK, to start processes from that folder as the container would.
import { access, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import {
  runCommand,
  spawnCommand,
  type ChildEnv,
  type CliRun,
  type SpawnedProcess,
} from '../support/process.ts';
import { withBuildLock } from '../support/build-lock.ts';
import { readDockerfile } from './deploy-files.ts';
import { lastOf, runtimeEnv, stageNamed } from './dockerfile.ts';

/** A cold npm install of the tarballs and five builds, on a busy two-core machine. */
export const LAYOUT_BUILD_MS = 480_000;

// Nothing of the repository's development setup may reach the layout's processes: no source
// condition (it would send imports to .ts files), no workspace selection inherited from npm.
const OUTSIDE_REPO: ChildEnv = { NODE_OPTIONS: undefined, npm_config_workspace: undefined };

/** What the Dockerfile's runtime stage holds, built in a temporary folder. */
export interface ImageLayout {
  /** Where the image has /opt/pg-static-cache. */
  readonly app: string;
  /** The runtime stage's environment (its PATH in front of this machine's). */
  readonly env: Readonly<Record<string, string>>;
  /** ENTRYPOINT resolved on that PATH, as the container runtime does. */
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly healthcheck: readonly string[];
  /** The RUN commands that built it, for failure messages and the docs. */
  readonly commands: readonly string[];
}

async function runStep(command: string, env: ChildEnv): Promise<CliRun> {
  const run = await runCommand('sh', ['-c', command], {
    cwd: repoRoot,
    env: { ...OUTSIDE_REPO, ...env },
    timeoutMs: LAYOUT_BUILD_MS,
  });
  if (run.code !== 0) throw new Error(`${command}\nexited ${run.code}:\n${run.stderr}`);
  return run;
}

/** Builds the image's runtime layout under `dir` (which must exist and be empty). */
export async function buildImageLayout(dir: string): Promise<ImageLayout> {
  const dockerfile = await readDockerfile();
  const build = stageNamed(dockerfile, 'build');
  const lastCopy = build.instructions.findLastIndex((i) => i.keyword === 'COPY');
  const commands = build.instructions
    .slice(lastCopy + 1)
    .filter((i) => i.keyword === 'RUN')
    .map((i) => i.text);
  const args = { PACKS: join(dir, 'packs'), APP: join(dir, 'app') };
  await withBuildLock(LAYOUT_BUILD_MS, async () => {
    for (const command of commands) await runStep(command, args);
  });

  const runtime = dockerfile.stages.at(-1);
  if (runtime === undefined) throw new Error('no runtime stage');
  const env = runtimeEnv({ ...dockerfile, globalArgs: { ...dockerfile.globalArgs, ...args } });
  const path = (env['PATH'] ?? '$PATH').replace('$PATH', process.env['PATH'] ?? '');
  const [command = '', ...entryArgs] = lastOf(runtime, 'ENTRYPOINT')?.exec ?? [];
  return {
    app: args.APP,
    env: { ...env, PATH: path },
    entrypoint: [await onPath(command, path), ...entryArgs],
    cmd: lastOf(runtime, 'CMD')?.exec ?? [],
    healthcheck: lastOf(runtime, 'HEALTHCHECK')?.exec ?? [],
    commands,
  };
}

async function onPath(command: string, path: string): Promise<string> {
  for (const folder of path.split(':')) {
    const candidate = join(folder, command);
    const found = await access(candidate).then(
      () => true,
      () => false,
    );
    if (found) return candidate;
  }
  throw new Error(`${command} is not on the image's PATH ${path}`);
}

/** Starts `args` the way `docker run IMAGE args…` would, with `env` on top of the image's. */
export function spawnFromImage(
  layout: ImageLayout,
  args: readonly string[],
  env: ChildEnv,
): SpawnedProcess {
  const [command = '', ...entryArgs] = layout.entrypoint;
  return spawnCommand(command, [...entryArgs, ...args], {
    cwd: layout.app,
    env: { ...OUTSIDE_REPO, ...layout.env, ...env },
  });
}

/** Runs the image's HEALTHCHECK command with `env` on top of the image's; its exit code. */
export async function runHealthcheck(layout: ImageLayout, env: ChildEnv): Promise<number | null> {
  const [command = '', ...args] = layout.healthcheck;
  const run = await runCommand(command, args, {
    cwd: layout.app,
    env: { ...OUTSIDE_REPO, ...layout.env, ...env },
  });
  return run.code;
}

/** Names of the packages installed at the top of the layout's node_modules (scopes expanded). */
export async function installedPackages(layout: ImageLayout): Promise<string[]> {
  const top = join(layout.app, 'node_modules');
  const names: string[] = [];
  for (const entry of await readdir(top)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const scoped of await readdir(join(top, entry))) names.push(`${entry}/${scoped}`);
    } else {
      names.push(entry);
    }
  }
  return names.sort();
}

/** Bytes of every file under `folder` (what `du --apparent-size` counts). */
export async function folderBytes(folder: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Resident memory of a process and its descendants, in bytes, from /proc. */
export async function residentBytes(pid: number): Promise<{ self: number; withChildren: number }> {
  const self = await vmRss(pid);
  let withChildren = self;
  for (const child of await childrenOf(pid)) {
    withChildren += (await residentBytes(child)).withChildren;
  }
  return { self, withChildren };
}

async function readProc(path: string): Promise<string> {
  const file = await open(path);
  try {
    return await file.readFile('utf8');
  } finally {
    await file.close();
  }
}

async function vmRss(pid: number): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const text = await readProc(`/proc/${pid}/task/${task}/children`).catch(() => '');
    children.push(
      ...text
        .split(' ')
        .filter((t) => t !== '')
        .map(Number),
    );
  }
  return children;
}

import { run } from './process.ts';

let updated = false;

/** Installs Debian packages with apt-get; only possible as root, which is how CI and fresh machines run. */
export async function aptInstall(
  packages: readonly string[],
  log: (line: string) => void,
): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${packages.join(', ')}: install them (apt-get install ${packages.join(' ')}) or run as root`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!updated) {
    log('apt-get update');
    await run('apt-get', ['update'], { env });
    updated = true;
  }
  log(`apt-get install -y ${packages.join(' ')}`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env });
}

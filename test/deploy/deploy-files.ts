// The deployment files as the tests read them: the Dockerfile, docker-compose.yml, the Kubernetes
// manifests and the systemd unit, each parsed strictly, and the bridge's defaults they must agree
// with, taken from the bridge's own settings rather than written here a second time.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBridgeConfig, SETTINGS } from '@pg-static-cache/bridge';
import { repoRoot } from '@pg-static-cache/local-services';
import { parseAllDocuments } from 'yaml';
import { parseDockerfile, type Dockerfile } from './dockerfile.ts';

/**
 * The bridge's HTTP paths. The bridge does not export them; the image-layout test asks a built
 * bridge for each, so a renamed endpoint fails there.
 */
export const ENDPOINTS = Object.freeze({
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
  board: '/queues',
});

/** The settings' defaults for the two required URLs filled in: what a bridge runs with. */
export const BRIDGE_DEFAULTS = parseBridgeConfig({
  databaseUrl: 'postgres://localhost/defaults',
  redisUrl: 'redis://localhost',
});

/** Every environment variable a bridge or worker reads (DATABASE_URL, REDIS_URL, PSC_*). */
export const SETTING_VARIABLES: ReadonlySet<string> = new Set(SETTINGS.map((s) => s.env));

/** A path inside the repository. */
export const fromRoot = (...parts: string[]): string => join(repoRoot, ...parts);

/** Reads a repository file as text. */
export const readRepoFile = (...parts: string[]): Promise<string> =>
  readFile(fromRoot(...parts), 'utf8');

/** The repository's Dockerfile, parsed. */
export async function readDockerfile(): Promise<Dockerfile> {
  return parseDockerfile(await readRepoFile('Dockerfile'));
}

/**
 * Every document of a YAML file as plain data. Errors and warnings both fail: a duplicate key or
 * a tab that YAML tolerates is still a file someone misread. Merge keys (`<<:`) are on, as Docker
 * Compose reads them.
 */
export async function readYamlDocuments(...parts: string[]): Promise<unknown[]> {
  const text = await readRepoFile(...parts);
  return parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: true }).map(
    (doc) => {
      const problems = [...doc.errors, ...doc.warnings];
      if (problems.length > 0) {
        throw new Error(`${parts.join('/')}: ${problems.map((p) => p.message).join('; ')}`);
      }
      return doc.toJS({ maxAliasCount: 100 }) as unknown;
    },
  );
}

/** The files of a repository folder (not recursive), sorted, as repository-relative paths. */
export async function filesIn(folder: string): Promise<string[]> {
  const entries = await readdir(fromRoot(folder), { withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(folder, e.name))
    .sort();
}

/** The `PSC_*` names a text mentions. */
export function pscVariablesIn(text: string): string[] {
  return [...new Set(text.match(/\bPSC_[A-Z0-9_]+\b/g) ?? [])];
}

/** A systemd unit file: section → key → values (a key may repeat, e.g. SystemCallFilter). */
export type UnitFile = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Parses a systemd unit (INI-like; `#`/`;` comments, no continuation lines used here). */
export function parseUnitFile(text: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section !== null) {
      current = new Map();
      sections.set(section[1] ?? '', current);
      return;
    }
    const entry = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (entry === null || current === undefined) {
      throw new Error(`line ${index + 1}: not "Key=value" inside a section: ${line}`);
    }
    const key = entry[1] ?? '';
    current.set(key, [...(current.get(key) ?? []), entry[2] ?? '']);
  });
  return sections;
}

// docs/api.md documents every export of @pg-static-cache/client, for every entry point of the
// package's exports map: a name exported without its heading, a heading whose name is no longer
// exported, or an entry point without its section fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const PACKAGE = '@pg-static-cache/client';
const PACKAGE_DIR = join(repoRoot, 'libs', 'client');
const DOC = join(repoRoot, 'docs', 'api.md');
/** The exports-map condition that leads to the TypeScript sources (see vitest.config.ts). */
const SOURCE = '@pg-static-cache/source';

const packageJson = z.object({
  exports: z.record(z.string(), z.union([z.string(), z.record(z.string(), z.unknown())])),
});

/** Import specifier → source file, for every entry point of the exports map but package.json. */
function entryPoints(): Map<string, string> {
  const manifest = packageJson.parse(
    JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')),
  );
  const entries = new Map<string, string>();
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (subpath === './package.json') continue;
    const source = typeof target === 'string' ? undefined : target[SOURCE];
    if (typeof source !== 'string') throw new Error(`${subpath} has no "${SOURCE}" condition`);
    entries.set(PACKAGE + subpath.slice(1), join(PACKAGE_DIR, source));
  }
  return entries;
}

/** Every name a module exports, values and types alike, as the TypeScript compiler sees them. */
function exportedNames(files: readonly string[]): Map<string, string[]> {
  const configFile = join(repoRoot, 'tsconfig.base.json');
  const config = ts.readConfigFile(configFile, (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot);
  const program = ts.createProgram(files, options);
  const checker = program.getTypeChecker();
  const names = new Map<string, string[]>();
  for (const file of files) {
    const source = program.getSourceFile(file);
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (module === undefined) throw new Error(`TypeScript cannot read ${file}`);
    names.set(
      file,
      checker.getExportsOfModule(module).map((symbol) => symbol.getName()),
    );
  }
  return names;
}

/** `## \`specifier\`` sections of the doc and the `### \`Name\`` headings under each. */
function documented(markdown: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    if (line.startsWith('## ')) {
      const specifier = /^## `(@pg-static-cache\/client(?:\/[\w-]+)*)`$/.exec(line)?.[1];
      if (specifier === undefined) {
        current = undefined;
      } else {
        current = [];
        sections.set(specifier, current);
      }
    } else if (line.startsWith('### ') && current !== undefined) {
      const name = /^### `([\w$]+)`$/.exec(line)?.[1];
      if (name === undefined) throw new Error(`a heading of an export names one export: ${line}`);
      current.push(name);
    }
  }
  return sections;
}

const sorted = (names: readonly string[]): string[] => [...names].sort();

describe('docs/api.md', () => {
  const entries = entryPoints();
  const exports = exportedNames([...entries.values()]);
  const sections = documented(readFileSync(DOC, 'utf8'));

  it('has one section per entry point of the exports map, and no other', () => {
    expect(entries.has(PACKAGE)).toBe(true);
    expect(sorted([...sections.keys()])).toEqual(sorted([...entries.keys()]));
  });

  it.each([...entries])('%s: one heading per export, each once', async (specifier, file) => {
    const names = exports.get(file) ?? [];
    // What the compiler lists must include what Node loads, or this test would check nothing.
    const runtime = Object.keys((await import(specifier)) as Record<string, unknown>);
    expect(runtime.length).toBeGreaterThan(0);
    expect(names).toEqual(expect.arrayContaining(runtime));
    const headings = sections.get(specifier) ?? [];
    expect(sorted(headings)).toEqual(sorted([...new Set(headings)]));
    expect(sorted(headings)).toEqual(sorted(names));
  });
});

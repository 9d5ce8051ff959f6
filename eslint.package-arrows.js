// The package arrows of STYLE.md ("Direction of imports"), as lint rules, so a wrong import fails
// `npm run lint` (part of `npm test`). Built on ESLint's own no-restricted-imports, one config
// block per package: no extra tool to pin, and the same lint run that checks everything else.
// no-restricted-imports sees static imports and `export … from`; the same patterns go to
// no-restricted-syntax for dynamic `import('…')`, which the CLI uses to load the bridge lazily.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = import.meta.dirname;

/**
 * Which of our packages each package's product code (not its tests) may import, by folder. libs
 * never import apps, the protocol imports nothing of ours, and nothing imports the CLI.
 */
const ARROWS = {
  'libs/protocol': [],
  'libs/postgres': ['libs/protocol'],
  'libs/client': ['libs/protocol', 'libs/postgres'],
  'apps/bridge': ['libs/protocol', 'libs/postgres', 'libs/client'],
  'apps/cli': ['libs/protocol', 'libs/postgres', 'libs/client', 'apps/bridge'],
  'apps/demo': [
    'libs/protocol',
    'libs/postgres',
    'libs/client',
    'apps/bridge',
    'infra/local',
    'test/support',
  ],
  bench: ['libs/protocol', 'libs/postgres', 'libs/client', 'infra/local', 'test/support'],
  'infra/local': [],
  // The helpers tests share (and the demo and bench with them); they run the CLI as a process.
  'test/support': ['libs/protocol', 'libs/postgres', 'libs/client', 'apps/bridge', 'infra/local'],
};

// The protocol has no I/O: besides its own files, zod (its only dependency) and node:crypto (HMAC).
const PROTOCOL_MAY_IMPORT = ['zod', 'node:crypto'];

/** Each workspace folder with its package name and the subpaths its exports map declares. */
function workspaces() {
  const { workspaces: globs } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const dirs = globs.flatMap((glob) =>
    glob.endsWith('/*')
      ? readdirSync(join(root, glob.slice(0, -2)), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => `${glob.slice(0, -2)}/${d.name}`)
          .filter((dir) => existsSync(join(root, dir, 'package.json')))
      : [glob],
  );
  return dirs.map((dir) => {
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const subpaths = Object.keys(manifest.exports ?? {})
      .filter((key) => key !== '.')
      .map((key) => `${manifest.name}${key.slice(1)}`);
    return { dir, name: manifest.name, subpaths };
  });
}

// Escaped for a RegExp and for the /…/ of an esquery selector (which ends at an unescaped slash).
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const anyOf = (texts) => `(?:${texts.map(escape).join('|')})`;

/** Rules for the files of one group: each forbidden import as a regex with its reason. */
function restrict(patterns) {
  return {
    'no-restricted-imports': [
      'error',
      {
        patterns: patterns.map(({ regex, message }) => ({ regex, message, caseSensitive: true })),
      },
    ],
    'no-restricted-syntax': [
      'error',
      ...patterns.map(({ regex, message }) => ({
        selector: `ImportExpression[source.value=/${regex}/u]`,
        message: `Dynamic import restricted: ${message}`,
      })),
    ],
  };
}

/** The flat-config blocks that enforce the arrows; throws when a workspace has no arrows. */
export function packageArrows() {
  const packages = workspaces();
  const byDir = new Map(packages.map((p) => [p.dir, p]));
  for (const dir of new Set([...byDir.keys(), ...Object.keys(ARROWS)])) {
    if (!byDir.has(dir) || !(dir in ARROWS)) {
      throw new Error(`eslint.package-arrows.js: ${dir} must be both a workspace and in ARROWS`);
    }
  }
  const declared = packages.flatMap((p) => p.subpaths);
  const names = packages.map((p) => p.name);
  const folders = [...new Set(packages.flatMap((p) => [p.dir, p.dir.split('/').at(-1)]))];

  // Everywhere, tests included: a package is imported by its name or a declared subpath export.
  const common = [
    {
      regex: `^(?!${anyOf(declared)}$)${anyOf(names)}\\/`,
      message:
        'Import a package by its name or a subpath its exports map declares, never its files.',
    },
    {
      regex: `^(?:\\.\\.\\/)+${anyOf(folders)}\\/(?:src|dist|bin|package\\.json)(?:\\/|$)`,
      message: 'Import another package by its name, never by a relative path into its folder.',
    },
  ];
  const blocks = Object.entries(ARROWS).map(([dir, allowed]) => {
    const self = byDir.get(dir).name;
    const allowedNames = allowed.map((d) => byDir.get(d).name);
    // Never empty: no package may import the CLI.
    const forbidden = names.filter((n) => n !== self && !allowedNames.includes(n));
    const may = allowedNames.length === 0 ? 'none' : `only ${allowedNames.join(', ')}`;
    const patterns = [
      ...common,
      {
        regex: `^${anyOf(forbidden)}(?:\\/|$)`,
        message: `${dir} may import ${may} of this repository's packages (STYLE.md, "Direction of imports").`,
      },
      {
        regex: '^(?:\\.\\.\\/)+test\\/',
        message:
          'Product code never imports test code: move the shared part to test/ or the package.',
      },
    ];
    if (dir === 'libs/protocol') {
      patterns.push({
        regex: `^(?!${anyOf(PROTOCOL_MAY_IMPORT)}$|\\.\\.?\\/)`,
        message: `libs/protocol has no I/O: it imports only ${PROTOCOL_MAY_IMPORT.join(', ')} and its own files.`,
      });
    }
    return {
      name: `package-arrows/${dir}`,
      files: [`${dir}/**/*.{ts,js,mjs,cjs}`],
      ignores: ['**/*.test.ts'],
      rules: restrict(patterns),
    };
  });
  const cli = byDir.get('apps/cli').name;
  blocks.push({
    name: 'package-arrows/tests',
    // Tests may import test support and every package, but not the CLI (they run it as a process).
    files: ['**/*.test.ts', 'test/**/*.{ts,js,mjs,cjs}'],
    rules: restrict([
      ...common,
      {
        regex: `^${escape(cli)}(?:\\/|$)`,
        message: `Nothing imports the CLI (${cli}): run it as a process (test/support/process.ts).`,
      },
    ]),
  });
  return blocks;
}

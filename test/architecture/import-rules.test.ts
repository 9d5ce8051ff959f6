// The package arrows (STYLE.md, "Direction of imports") are lint rules: this lints small files,
// placed by path inside each package, with the repository's own eslint.config.js, and expects a
// forbidden import to be an error and a permitted one to pass. Type-aware rules are off here:
// they need the file on disk, and the arrows do not depend on types.
import { repoRoot } from '@pg-static-cache/local-services';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: repoRoot, overrideConfig: tseslint.configs.disableTypeChecked });

const ARROW_RULES = new Set(['no-restricted-imports', 'no-restricted-syntax']);

/** The arrow errors ESLint reports for `code` as the file `filePath` (relative to the root). */
async function arrowErrors(filePath: string, code: string): Promise<string[]> {
  const path = `${repoRoot}/${filePath}`;
  // An allowed import passes only because the arrows were checked, not because nothing was.
  const config = (await eslint.calculateConfigForFile(path)) as { rules?: Record<string, unknown> };
  expect(config.rules?.['no-restricted-imports']).toBeDefined();
  const [result] = await eslint.lintText(`${code}\n`, { filePath: path });
  if (result === undefined) throw new Error(`no lint result for ${filePath}`);
  return result.messages
    .filter((m) => m.ruleId !== null && ARROW_RULES.has(m.ruleId) && m.severity === 2)
    .map((m) => m.message);
}

interface Case {
  readonly file: string;
  readonly code: string;
  /** A part of the expected message; absent for an import that is allowed. */
  readonly error?: string;
}

const use = (what: string) => `${what}\nexport const probe = [x];`;
const from = (source: string) => use(`import { x } from '${source}';`);

const cases: readonly Case[] = [
  // The protocol is the leaf, with no I/O.
  { file: 'libs/protocol/src/probe.ts', code: from('zod') },
  { file: 'libs/protocol/src/probe.ts', code: from('./names.ts') },
  {
    file: 'libs/protocol/src/probe.ts',
    code: from('@pg-static-cache/postgres'),
    error: 'libs/protocol may import none',
  },
  { file: 'libs/protocol/src/probe.ts', code: from('ioredis'), error: 'has no I/O' },
  { file: 'libs/protocol/src/probe.ts', code: from('node:fs'), error: 'has no I/O' },
  // libs use the protocol (the client also postgres), never apps.
  { file: 'libs/postgres/src/probe.ts', code: from('@pg-static-cache/protocol') },
  {
    file: 'libs/postgres/src/probe.ts',
    code: from('@pg-static-cache/client'),
    error: 'libs/postgres may import only @pg-static-cache/protocol',
  },
  { file: 'libs/client/src/probe.ts', code: from('@pg-static-cache/postgres') },
  {
    file: 'libs/client/src/probe.ts',
    code: use("import type { x } from '@pg-static-cache/bridge';"),
    error: 'libs/client may import only',
  },
  // Apps use libs; nothing imports the CLI.
  { file: 'apps/bridge/src/probe.ts', code: from('@pg-static-cache/client') },
  { file: 'apps/bridge/src/probe.ts', code: from('./lease.ts') },
  { file: 'apps/bridge/src/probe.ts', code: from('pg-static-cache'), error: 'apps/bridge may' },
  { file: 'apps/demo/src/probe.ts', code: from('@pg-static-cache/local-services') },
  { file: 'apps/demo/src/probe.ts', code: from('pg-static-cache'), error: 'apps/demo may' },
  {
    file: 'apps/cli/src/commands/probe.ts',
    code: "export const probe = await import('@pg-static-cache/bridge');",
  },
  {
    file: 'apps/cli/src/commands/probe.ts',
    code: "export const probe = await import('@pg-static-cache/demo');",
    error: 'Dynamic import restricted: apps/cli may',
  },
  // Only package names and declared subpath exports, never another package's files.
  { file: 'apps/cli/src/probe.ts', code: from('@pg-static-cache/bridge/settings') },
  {
    file: 'apps/cli/src/probe.ts',
    code: from('@pg-static-cache/bridge/src/settings.ts'),
    error: 'subpath its exports map declares',
  },
  {
    file: 'apps/bridge/src/probe.ts',
    code: from('../../../libs/protocol/src/names.ts'),
    error: 'by a relative path',
  },
  {
    file: 'apps/cli/src/probe.ts',
    code: use("export { x } from '../../bridge/src/index.ts';"),
    error: 'by a relative path',
  },
  // Product code never imports test code; tests may.
  {
    file: 'apps/bridge/src/probe.ts',
    code: from('../../../test/support/index.ts'),
    error: 'never imports test code',
  },
  {
    file: 'apps/cli/src/commands/probe.ts',
    code: from('../../../../test/fixtures/app.ts'),
    error: 'never imports test code',
  },
  { file: 'apps/bridge/src/probe.test.ts', code: from('../../../test/support/index.ts') },
  { file: 'test/jobs/probe.ts', code: from('../support/index.ts') },
  { file: 'test/jobs/probe.ts', code: from('@pg-static-cache/bridge') },
  {
    file: 'test/jobs/probe.ts',
    code: from('../../apps/bridge/src/bridge.ts'),
    error: 'by a relative path',
  },
  {
    file: 'test/jobs/probe.test.ts',
    code: from('pg-static-cache'),
    error: 'Nothing imports the CLI',
  },
];

describe('package arrows', () => {
  it.each(cases)('$file: $code', async ({ file, code, error }) => {
    const errors = await arrowErrors(file, code);
    if (error === undefined) {
      expect(errors).toEqual([]);
    } else {
      expect(errors).toEqual(expect.arrayContaining([expect.stringContaining(error)]));
    }
  });
});

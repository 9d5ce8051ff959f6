import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import { describe, expect, it } from 'vitest';
import { CONFIG_FIELDS, parseBridgeConfig } from './config.ts';
import { SETTINGS, type Setting } from './settings.ts';

const DOC = join(repoRoot, 'docs', 'configuration.md');

// The cells of one setting's row in docs/configuration.md (prettier pads them; the text is exact).
function cells(setting: Setting): string[] {
  const flags =
    setting.flag === undefined
      ? '—'
      : setting.kind === 'switch'
        ? `\`${setting.flag}\`, \`--no-${setting.flag.slice(2)}\``
        : `\`${setting.flag} ${setting.arg ?? ''}\``;
  const names = [`\`${setting.env}\``, flags];
  return [...names, `\`${setting.default}\``, setting.roles.join(', '), setting.summary];
}

// A schema default as the settings table writes it.
function asText(value: unknown): string | undefined {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  throw new Error(`no text form for ${typeof value}`);
}

describe('settings', () => {
  it('has one setting per config field (the logger is code), each with its own names', () => {
    expect(SETTINGS.map((s) => s.key).sort()).toEqual(
      CONFIG_FIELDS.filter((f) => f !== 'logger').sort(),
    );
    for (const names of [SETTINGS.map((s) => s.env), SETTINGS.map((s) => s.flag)]) {
      const given = names.filter((n) => n !== undefined);
      expect(new Set(given).size).toBe(given.length);
    }
  });

  it('states each default as the schema has it', () => {
    const defaults = parseBridgeConfig({ databaseUrl: 'postgres://h/d', redisUrl: 'redis://h' });
    for (const setting of SETTINGS) {
      const value = asText((defaults as unknown as Record<string, unknown>)[setting.key]);
      if (setting.default === 'required') continue;
      // Absent or empty in the schema: the table describes it in words (`none`, `the channel`).
      if (value === undefined || setting.key === 'bridgeId') {
        expect(setting.default, setting.key).toMatch(/^(none|the |every |<)/);
      } else {
        expect(setting.default, setting.key).toBe(value);
      }
    }
  });

  it('is documented in docs/configuration.md, row for row', () => {
    const doc = readFileSync(DOC, 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => /^\| `[A-Z_]+` +\|/.test(line))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    expect(rows).toEqual(SETTINGS.map(cells));
  });
});

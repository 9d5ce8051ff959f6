import type { Logger } from 'pino';
import { checkBridgeConfig, type BridgeConfig } from './config.ts';
import { BridgeError } from './errors.ts';
import { settingsOf, type Setting, type SettingKey, type SettingRole } from './settings.ts';

/** Environment variables as a process has them. */
export type SettingsEnv = Readonly<Record<string, string | undefined>>;

/**
 * Flag values as commander gives them, by setting key: text, a variadic list, or a switch;
 * undefined means the flag was not given.
 */
export type FlagValues = Readonly<
  Partial<Record<SettingKey, string | readonly string[] | boolean>>
>;

/** Where {@link loadConfig} reads from. */
export interface ConfigSources {
  /** Which settings apply (a worker ignores the bridge's). */
  readonly role: SettingRole;
  readonly env: SettingsEnv;
  /** They win over the environment. */
  readonly flags?: FlagValues;
  /** An embedding app's logger (not a setting). */
  readonly logger?: Logger;
}

type Value = string | number | boolean | readonly string[];

// A comma that starts the next `name=`; a name has the charset of a namespace.
const PAIR_SEPARATOR = /,(?=\s*[A-Za-z0-9_-]+=)/;

function invalid(message: string): BridgeError {
  return new BridgeError('INVALID_CONFIG', message);
}

// Text from the environment or a flag as the config field's type; `source` names the variable or
// flag in the error, never the value (a URL or key is a secret).
function read(setting: Setting, raw: string | readonly string[] | boolean, source: string): Value {
  if (typeof raw === 'boolean') return raw;
  if (setting.kind === 'list' || setting.kind === 'pairs') {
    const separator = setting.kind === 'pairs' ? PAIR_SEPARATOR : ',';
    const items = typeof raw === 'string' ? raw.split(separator) : raw;
    return items.map((item) => item.trim()).filter((item) => item !== '');
  }
  const text = typeof raw === 'string' ? raw : raw.join(',');
  switch (setting.kind) {
    case 'text':
      return text;
    case 'integer':
      if (!/^[0-9]{1,9}$/.test(text)) throw invalid(`${source} must be a whole number`);
      return Number(text);
    case 'switch':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw invalid(`${source} must be 1 or 0 (true or false)`);
  }
}

/**
 * The one configuration of a bridge or worker: each setting of `role` from its flag, else its
 * environment variable (unset or empty: the default), validated by the schema. A bad value throws
 * BridgeError INVALID_CONFIG whose one-line message names the variable or flag it came from.
 */
export function loadConfig(sources: ConfigSources): BridgeConfig {
  const { role, env, flags = {} } = sources;
  const input: Record<string, Value | Logger> = {};
  const from = new Map<string, string>();
  for (const setting of settingsOf(role)) {
    const flag = flags[setting.key];
    const text = env[setting.env];
    const [raw, source] =
      flag !== undefined && setting.flag !== undefined
        ? [flag, setting.flag]
        : text !== undefined && text !== ''
          ? [text, setting.env]
          : [undefined, undefined];
    if (raw === undefined) continue;
    const value = read(setting, raw, source);
    // An empty list (`PSC_TABLES=,`) is no list: the default applies.
    if (Array.isArray(value) && value.length === 0) continue;
    input[setting.key] = value;
    from.set(setting.key, source);
  }
  for (const setting of settingsOf(role).filter((s) => s.default === 'required')) {
    if (input[setting.key] === undefined) {
      // The flag is worth naming only to a caller that reads flags (the CLI, not main.ts).
      const canFlag = sources.flags !== undefined && setting.flag !== undefined;
      const orFlag = canFlag ? ` or pass ${setting.flag}` : '';
      throw invalid(`no ${setting.env}: set it${orFlag}`);
    }
  }
  if (sources.logger !== undefined) input['logger'] = sources.logger;
  const checked = checkBridgeConfig(input);
  if (checked.ok) return checked.config;
  const { field, message } = checked.issue;
  throw invalid(`${nameOf(field, from)}: ${message}`);
}

// The variable or flag that gave a field's value; for a default, both names and that it is one.
function nameOf(field: string | undefined, from: ReadonlyMap<string, string>): string {
  if (field === undefined) return 'config';
  const given = from.get(field);
  if (given !== undefined) return given;
  const setting = settingsOf('bridge').find((s) => s.key === field);
  if (setting === undefined) return field;
  const names = setting.flag === undefined ? setting.env : `${setting.env} / ${setting.flag}`;
  return `${names} (default ${setting.default})`;
}

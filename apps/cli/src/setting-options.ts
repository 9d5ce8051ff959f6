// The flags of `bridge` and `worker`, built from the bridge's settings table, so that every setting
// has one flag name and one variable name, and `--help` states both with the default.
import {
  SETTINGS,
  type Setting,
  type SettingKey,
  type SettingRole,
} from '@pg-static-cache/bridge/settings';
import { Option, type Command } from 'commander';

/** Flag values by setting key, as the bridge's loadConfig takes them. */
export type SettingFlags = Partial<Record<SettingKey, string | readonly string[] | boolean>>;

// The URLs are the program's global options (every command takes them).
const GLOBAL: readonly SettingKey[] = ['databaseUrl', 'redisUrl'];

function optionsOf(setting: Setting): Option[] {
  const { flag, arg, env, summary } = setting;
  if (flag === undefined) return [];
  const help = `${summary} (${env}; default: ${setting.default})`;
  if (setting.kind === 'switch') {
    // Both forms, so "not given" stays undefined and the variable can decide.
    return [new Option(flag, help), new Option(`--no-${flag.slice(2)}`, `turn ${flag} off`)];
  }
  return [new Option(`${flag} ${arg ?? '<value>'}`, help)];
}

/**
 * Adds a flag for every setting of `role` (except the global URLs) and returns how to read their
 * values back: undefined for a flag not given, so the environment or the default decides.
 */
export function addSettingOptions(
  command: Command,
  role: SettingRole,
): (opts: Readonly<Record<string, unknown>>) => SettingFlags {
  const attributes = new Map<SettingKey, string>();
  for (const setting of SETTINGS) {
    if (!setting.roles.includes(role) || GLOBAL.includes(setting.key)) continue;
    const options = optionsOf(setting);
    for (const option of options) command.addOption(option);
    const [first] = options;
    if (first !== undefined) attributes.set(setting.key, first.attributeName());
  }
  return (opts) => {
    const flags: SettingFlags = {};
    for (const [key, attribute] of attributes) {
      const value = opts[attribute];
      if (typeof value === 'string' || typeof value === 'boolean') flags[key] = value;
      else if (Array.isArray(value)) flags[key] = value.map(String);
    }
    return flags;
  };
}

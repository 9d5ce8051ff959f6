import { ClientError } from './errors.ts';

/** A duration option (`name`), checked since JavaScript callers are not type-checked: `fallback` when absent. */
export function msOption(name: string, option: number | undefined, fallback: number): number {
  const ms = option ?? fallback;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new ClientError('INVALID_OPTIONS', `${name} must be a number ≥ 0, not ${ms}`);
  }
  return ms;
}

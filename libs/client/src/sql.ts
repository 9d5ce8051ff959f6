import { ClientError } from './errors.ts';

/**
 * A SQL condition with its values kept apart: `text` holds `$1`, `$2`… placeholders and `values`
 * their values, sent as query parameters, never spliced into the text.
 */
export interface SqlFragment {
  readonly text: string;
  readonly values?: readonly unknown[];
}

function isFragment(value: unknown): value is SqlFragment {
  return typeof value === 'object' && value !== null && 'text' in value && !Array.isArray(value);
}

/**
 * Tagged template for a parameterized condition: sql`active AND tenant = ${id}` is
 * `{ text: 'active AND tenant = $1', values: [id] }`. Every `${…}` is a value, never SQL.
 */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Required<SqlFragment> {
  if (values.some(isFragment)) {
    // Its placeholders would need renumbering, and as a value it would be sent as JSON.
    throw new ClientError(
      'INVALID_OPTIONS',
      'sql`…` cannot hold another sql`…`: write one template',
    );
  }
  let text = strings[0] ?? '';
  values.forEach((_value, i) => (text += `$${i + 1}${strings[i + 1] ?? ''}`));
  return Object.freeze({ text, values: Object.freeze([...values]) });
}

const FORMS = "sql`tenant = ${id}` or { text: 'tenant = $1', values: [id] }";

/**
 * The filter of a cache's `where` (parameterized) or `whereRaw` (text) option, checked: JavaScript
 * callers are not type-checked, and a plain string in `where` is exactly the splicing it replaces.
 */
export function filterOf(where: unknown, whereRaw: unknown): Required<SqlFragment> | undefined {
  if (where !== undefined && whereRaw !== undefined) {
    throw new ClientError('INVALID_OPTIONS', 'give where or whereRaw, not both');
  }
  if (whereRaw !== undefined) {
    if (typeof whereRaw !== 'string' || whereRaw.trim() === '') {
      throw new ClientError('INVALID_OPTIONS', 'whereRaw must be a non-empty string of SQL');
    }
    return Object.freeze({ text: whereRaw, values: Object.freeze([]) });
  }
  if (where === undefined) return undefined;
  if (typeof where === 'string') {
    throw new ClientError(
      'INVALID_OPTIONS',
      `where takes parameterized SQL, not a string: ${FORMS} (raw SQL text goes in whereRaw)`,
    );
  }
  if (!isFragment(where) || typeof where.text !== 'string' || where.text.trim() === '') {
    throw new ClientError('INVALID_OPTIONS', `where must be ${FORMS}`);
  }
  const values: unknown = where.values ?? [];
  if (!Array.isArray(values)) {
    throw new ClientError('INVALID_OPTIONS', 'where.values must be an array');
  }
  const copy: readonly unknown[] = Object.freeze(Array.from(values as unknown[]));
  return Object.freeze({ text: where.text, values: copy });
}

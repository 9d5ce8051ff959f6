import { PostgresError } from './errors.ts';

/** A table name as parsed from user input: `schema` is undefined when the search_path decides. */
export interface TableName {
  readonly schema: string | undefined;
  readonly name: string;
}

/** A name whose schema is always given, so no search_path decides where it is. */
export interface QualifiedName {
  readonly schema: string;
  readonly name: string;
}

// Postgres' lexer: an unquoted identifier starts with a letter, `_` or any non-ASCII character
// and continues with those, digits and `$` (scan.l `ident_start` / `ident_cont`).
const IDENT_START = /[A-Za-z_\u0080-\uFFFF]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uFFFF]/;
const WHITESPACE = /\s/;

/** Parses a table name as a user writes it in SQL: `items`, `public.items`, `"Weird Schema"."Mixed Case"`. */
export function parseTableName(text: string): TableName {
  return parseQualifiedName(text, 'table name', 'INVALID_TABLE_NAME');
}

/** Parses an optionally schema-qualified name like parseTableName; `what` and `code` shape the error. */
export function parseQualifiedName(
  text: string,
  what: string,
  code: 'INVALID_TABLE_NAME' | 'INVALID_NAME',
): TableName {
  const fail = (reason: string): never => {
    throw new PostgresError(code, `invalid ${what} ${JSON.stringify(text)}: ${reason}`);
  };
  const parts: string[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && WHITESPACE.test(text.charAt(i))) i += 1;
  };

  skipSpace();
  if (i === text.length) fail('empty');
  for (;;) {
    skipSpace();
    const start = text.charAt(i);
    if (start === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) fail('unterminated quoted identifier');
        const c = text.charAt(i);
        if (c === '"') {
          if (text.charAt(i + 1) !== '"') break;
          value += '"';
          i += 2;
        } else {
          if (c === '\0') fail('NUL character in identifier');
          value += c;
          i += 1;
        }
      }
      i += 1;
      if (value === '') fail('empty quoted identifier');
      parts.push(value);
    } else if (start !== '' && IDENT_START.test(start)) {
      let end = i + 1;
      while (end < text.length && IDENT_CONT.test(text.charAt(end))) end += 1;
      // Postgres folds only ASCII letters of unquoted identifiers (downcase_identifier).
      parts.push(text.slice(i, end).replace(/[A-Z]+/g, (s) => s.toLowerCase()));
      i = end;
    } else if (start === '') {
      fail('missing identifier after "."');
    } else {
      fail(`unexpected character ${JSON.stringify(start)} at position ${i + 1}`);
    }
    skipSpace();
    if (i === text.length) break;
    if (text.charAt(i) !== '.') {
      fail(`unexpected character ${JSON.stringify(text.charAt(i))} at position ${i + 1}`);
    }
    i += 1;
  }
  if (parts.length > 2) fail('too many dotted parts (expected name or schema.name)');
  const [first, second] = parts;
  if (first === undefined) return fail('empty');
  return second === undefined
    ? { schema: undefined, name: first }
    : { schema: first, name: second };
}

/** Quotes an identifier for SQL, always, doubling embedded double quotes. */
export function quoteIdent(id: string): string {
  if (id.includes('\0')) {
    throw new PostgresError(
      'INVALID_NAME',
      `invalid identifier ${JSON.stringify(id)}: NUL character`,
    );
  }
  return `"${id.replaceAll('"', '""')}"`;
}

/** Quotes a string literal for SQL, doubling single quotes (E'' form when it holds a backslash). */
export function quoteLiteral(s: string): string {
  if (s.includes('\0')) {
    throw new PostgresError('INVALID_NAME', `invalid string ${JSON.stringify(s)}: NUL character`);
  }
  const body = s.replaceAll("'", "''");
  // Like Postgres' own quote_literal: E'' with doubled backslashes means the same string whatever
  // standard_conforming_strings is set to, so a backslash can never escape the closing quote.
  return s.includes('\\') ? `E'${body.replaceAll('\\', '\\\\')}'` : `'${body}'`;
}

/** Formats a (possibly schema-qualified) name as quoted SQL: `"schema"."name"` or `"name"`. */
export function formatTableName(t: {
  readonly schema?: string | undefined;
  readonly name: string;
}): string {
  return t.schema === undefined
    ? quoteIdent(t.name)
    : `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

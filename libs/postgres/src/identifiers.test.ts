import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PostgresError } from './errors.ts';
import { formatTableName, parseTableName, quoteIdent, quoteLiteral } from './identifiers.ts';

function errorOf(fn: () => unknown): PostgresError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PostgresError) return error;
    throw error;
  }
  throw new Error('expected a PostgresError');
}

describe('parseTableName', () => {
  it.each([
    ['items', undefined, 'items'],
    ['public.items', 'public', 'items'],
    ['Public.Items', 'public', 'items'],
    ['  public . items\t', 'public', 'items'],
    ['"Weird Schema"."Mixed Case"', 'Weird Schema', 'Mixed Case'],
    ['"a""b"', undefined, 'a"b'],
    ['"select"', undefined, 'select'],
    ['select', undefined, 'select'],
    ['_x$1', undefined, '_x$1'],
    // Like Postgres with UTF8: only ASCII letters fold.
    ['ÉTÉ.Ünïcode', 'ÉtÉ', 'Ünïcode'],
    ['s."x.y"', 's', 'x.y'],
    ['"  padded  "', undefined, '  padded  '],
  ])('parses %j', (text, schema, name) => {
    expect(parseTableName(text)).toEqual({ schema, name });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['a.b.c', 'too many dotted parts'],
    ['"abc', 'unterminated quoted identifier'],
    ['"a"".b', 'unterminated quoted identifier'],
    ['""', 'empty quoted identifier'],
    ['s.""', 'empty quoted identifier'],
    ['my-table', 'unexpected character "-"'],
    ['1abc', 'unexpected character "1"'],
    ['a b', 'unexpected character "b"'],
    ['"a"b', 'unexpected character "b"'],
    ['a.', 'missing identifier after "."'],
    ['.a', 'unexpected character "."'],
    ['a;drop table x', 'unexpected character ";"'],
    ['"a\0b"', 'NUL character'],
  ])('rejects %j', (text, reason) => {
    const error = errorOf(() => parseTableName(text));
    expect(error.code).toBe('INVALID_TABLE_NAME');
    expect(error.message).toContain(`invalid table name ${JSON.stringify(text)}: `);
    expect(error.message).toContain(reason);
    expect(error.message).not.toContain('\n');
  });

  it('round-trips any identifiers through formatTableName (property)', () => {
    const ident = fc.string({ minLength: 1, unit: 'grapheme' }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(fc.option(ident, { nil: undefined }), ident, (schema, name) => {
        const sql = formatTableName({ schema, name });
        const parsed = parseTableName(sql);
        expect(parsed).toEqual({ schema, name });
        expect(formatTableName(parsed)).toBe(sql);
      }),
    );
  });

  it('throws only PostgresError on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        try {
          const parsed = parseTableName(text);
          expect(parsed.name).not.toBe('');
        } catch (error) {
          expect(error).toBeInstanceOf(PostgresError);
        }
      }),
    );
  });
});

describe('quoting', () => {
  it('quotes identifiers always and doubles double quotes', () => {
    expect(quoteIdent('items')).toBe('"items"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(errorOf(() => quoteIdent('a\0')).code).toBe('INVALID_NAME');
  });

  it('quotes literals, doubling single quotes, E-form for backslashes', () => {
    expect(quoteLiteral('chan')).toBe("'chan'");
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('a\\b')).toBe("E'a\\\\b'");
    expect(errorOf(() => quoteLiteral('a\0')).code).toBe('INVALID_NAME');
  });

  it('formats schema-qualified and bare names', () => {
    expect(formatTableName({ schema: 'Weird Schema', name: 'Mixed Case' })).toBe(
      '"Weird Schema"."Mixed Case"',
    );
    expect(formatTableName({ schema: undefined, name: 'items' })).toBe('"items"');
    expect(formatTableName({ name: 'items' })).toBe('"items"');
  });
});

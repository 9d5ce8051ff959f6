import { describe, expect, it } from 'vitest';
import { DEFAULT_ALLOWED_HOSTS } from '../config.ts';
import { boardHostNames, hostNameOf } from './queue-board.ts';

describe('Bull Board host names', () => {
  it('reads the name of a Host header, with or without a port, and nothing else', () => {
    const cases: [string | undefined, string | undefined][] = [
      ['localhost:9464', 'localhost'],
      ['LocalHost', 'localhost'],
      ['[::1]:9464', '::1'],
      ['127.0.0.1', '127.0.0.1'],
      ['evil.example:80', 'evil.example'],
      ['::1', undefined],
      ['a b', undefined],
      ['host:port', undefined],
      ['', undefined],
      [undefined, undefined],
    ];
    expect(cases.map(([header]) => hostNameOf(header))).toEqual(cases.map(([, name]) => name));
  });

  it('answers the loopback names by default, plus the bound address when it is a specific one', () => {
    const names = (httpHost: string) =>
      [...boardHostNames({ allowedHosts: DEFAULT_ALLOWED_HOSTS, httpHost })].sort();
    expect(names('127.0.0.1')).toEqual(['127.0.0.1', '::1', 'localhost']);
    expect(names('0.0.0.0')).toEqual(['127.0.0.1', '::1', 'localhost']);
    expect(names('::')).toEqual(['127.0.0.1', '::1', 'localhost']);
    expect(names('10.0.0.5')).toEqual(['10.0.0.5', '127.0.0.1', '::1', 'localhost']);
    expect(names('fd00::2')).toEqual(['127.0.0.1', '::1', 'fd00::2', 'localhost']);
    expect(names('Bridge.Internal')).toEqual(['127.0.0.1', '::1', 'bridge.internal', 'localhost']);
  });
});

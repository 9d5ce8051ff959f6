import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from './redis-endpoint.ts';

describe('parseRedisUrl', () => {
  it('keeps a single server URL as given', () => {
    expect(parseRedisUrl('redis://u:p@host:6380/2')).toEqual({
      layout: 'single',
      url: 'redis://u:p@host:6380/2',
    });
    expect(parseRedisUrl('rediss://host').layout).toBe('single');
  });

  it('reads a cluster URL into seed nodes and credentials', () => {
    expect(
      parseRedisUrl('redis-cluster://app:s%40cret@a.example:7000,10.0.0.2:7001,[::1]'),
    ).toEqual({
      layout: 'cluster',
      nodes: [
        { host: 'a.example', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 6379 },
      ],
      nodeOptions: { username: 'app', password: 's@cret' },
    });
    expect(parseRedisUrl('rediss-cluster://:pw@h:1/')).toMatchObject({
      nodeOptions: { password: 'pw', tls: {} },
    });
    expect(parseRedisUrl('redis-cluster://h:1')).toMatchObject({ nodeOptions: {} });
  });

  it('refuses malformed URLs in one line that never shows the URL', () => {
    for (const bad of [
      'http://host',
      'redis-cluster://',
      'redis-cluster://h:0',
      'redis-cluster://h:70000',
      'redis-cluster://h:1,,h:2',
      'redis-cluster://h:1/0',
      'redis-cluster://u:%zz@h:1',
      'redis://secret-pw@[bad',
    ]) {
      expect(() => parseRedisUrl(bad), bad).toThrow(/^not a valid Redis URL \(.*\); expected /);
      try {
        parseRedisUrl(bad);
      } catch (error) {
        expect((error as Error).message).not.toContain('secret');
        expect((error as Error).message).not.toContain('\n');
      }
    }
  });
});

// `pg-static-cache bridge` refuses a bad region the way the CLI refuses any bad input: one line on
// stderr naming the flag or variable (never the URL, which may hold a password), exit 2.
import { describe, expect, it } from 'vitest';
import { expectOneLineFailure } from '../support/cli-failure.ts';
import { databaseUrl, redisUrl } from '../support/index.ts';
import { runCli } from '../support/process.ts';

describe('pg-static-cache bridge --region', () => {
  it('refuses a bad name, a bad URL, "home" and a name given twice, in one line', async () => {
    const secret = 'redis://:hunter2-secret@127.0.0.1:1';
    const cases: [readonly string[], Record<string, string>, RegExp][] = [
      [['--region', `home=${secret}`], {}, /^pg-static-cache: --region: region "home": that name/],
      [
        ['--region', `eu=${secret}`, '--region', `eu=${secret}9`],
        {},
        /^pg-static-cache: --region: region "eu" is given twice$/,
      ],
      [
        [],
        { PSC_REGIONS: `eu=http://:hunter2-secret@h` },
        /^pg-static-cache: PSC_REGIONS: region "eu": not a valid Redis URL \(unknown form\); expected redis:/,
      ],
      [[], { PSC_REGIONS: secret }, /^pg-static-cache: PSC_REGIONS: region 1: expected name=redis/],
    ];
    for (const [args, env, message] of cases) {
      const run = await runCli(['bridge', '--http-port', '0', ...args], {
        env: { DATABASE_URL: databaseUrl(), REDIS_URL: redisUrl(), ...env },
      });
      expectOneLineFailure(run, message);
      expect(run.stderr).not.toContain('hunter2');
    }
  });
});

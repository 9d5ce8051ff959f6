// The access docs/security.md lists is the access the tests grant (both come from the files in
// deploy/), and the Redis users keep covering what the installed BullMQ runs in its Lua scripts.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  envsubst,
  parseAclFile,
  POSTGRES_GRANTS_FILE,
  REDIS_USERS_FILE,
} from '../support/fixtures/least-privilege.ts';
import { redisUrl } from '../support/index.ts';

const SECURITY_DOC = join(repoRoot, 'docs', 'security.md');

/** Every file under `dir` whose name ends with `.lua`. */
async function luaFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.lua'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The commands granted to each user of the ACL file, for namespace `psc`. */
async function grantedCommands(): Promise<Map<string, Set<string>>> {
  const text = envsubst(await readFile(REDIS_USERS_FILE, 'utf8'), {
    NS: 'psc',
    APP_PASSWORD_SHA256: 'x',
    WORKER_PASSWORD_SHA256: 'x',
    BRIDGE_PASSWORD_SHA256: 'x',
    OPS_PASSWORD_SHA256: 'x',
  });
  return new Map(
    parseAclFile(text).map((user) => [
      user.name,
      new Set(user.rules.filter((r) => r.startsWith('+')).map((r) => r.slice(1))),
    ]),
  );
}

describe('documented access', () => {
  it('docs/security.md quotes the Redis users and the Postgres grants exactly as the tests apply them', async () => {
    const doc = await readFile(SECURITY_DOC, 'utf8');
    const acl = await readFile(REDIS_USERS_FILE, 'utf8');
    const grants = await readFile(POSTGRES_GRANTS_FILE, 'utf8');
    expect(doc).toContain('```text\n' + acl + '```\n');
    expect(doc).toContain('```sql\n' + grants + '```\n');
  });

  it('the worker and bridge users may run every command in BullMQ’s Lua scripts', async () => {
    // Commands that scripts call are checked against the caller's ACL like any other, so a BullMQ
    // upgrade whose scripts call one more command would fail jobs in production: fail here first.
    const bullmq = dirname(
      createRequire(join(repoRoot, 'apps/bridge/package.json')).resolve('bullmq'),
    );
    const files = await luaFiles(join(bullmq, 'commands'));
    expect(files.length).toBeGreaterThan(50);
    // BullMQ writes command names as upper-case string literals ("ZADD", or 'RPUSH' chosen at
    // run time); every other string in its scripts is lower case.
    const literals = new Set<string>();
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      for (const match of text.matchAll(/["']([A-Z]+)["']/g))
        literals.add(match[1]?.toLowerCase() ?? '');
    }
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    const reply: unknown = await redis.call('COMMAND', 'LIST').finally(() => redis.disconnect());
    if (!Array.isArray(reply)) throw new Error('COMMAND LIST answered no list');
    const known = new Set(reply.map(String));
    const used = [...literals].filter((name) => known.has(name)).sort();
    expect(used).toContain('zadd');

    const granted = await grantedCommands();
    for (const user of ['psc-worker', 'psc-bridge']) {
      const commands = granted.get(user) ?? new Set();
      expect(
        used.filter((name) => !commands.has(name)),
        user,
      ).toEqual([]);
    }
  });
});

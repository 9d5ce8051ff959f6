// What the bench needs besides Node (Ruby with Sequel and pg, installed with apt-get when missing)
// and the machine line printed with every result.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import type pg from 'pg';

const exec = promisify(execFile);

const RUBY_PACKAGES = ['ruby', 'ruby-sequel', 'ruby-pg'] as const;
const RUBY_PROBE =
  'require "sequel"; require "pg"; puts [RUBY_VERSION, Sequel::VERSION, PG::VERSION].join(" ")';

/** Versions of the Ruby side. */
export interface RubyVersions {
  readonly ruby: string;
  readonly sequel: string;
  readonly pg: string;
}

async function probeRuby(): Promise<RubyVersions | undefined> {
  try {
    const { stdout } = await exec('ruby', ['-e', RUBY_PROBE]);
    const [ruby = '?', sequel = '?', pgGem = '?'] = stdout.trim().split(' ');
    return { ruby, sequel, pg: pgGem };
  } catch {
    return undefined;
  }
}

/** Returns the Ruby, Sequel and pg gem versions, installing the Debian packages first if needed. */
export async function ensureRuby(log: (line: string) => void): Promise<RubyVersions> {
  const found = await probeRuby();
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Ruby with Sequel and pg is missing: run apt-get install ${RUBY_PACKAGES.join(' ')} as root`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log('apt-get update');
  await exec('apt-get', ['update'], { env });
  log(`apt-get install -y ${RUBY_PACKAGES.join(' ')}`);
  await exec('apt-get', ['install', '-y', ...RUBY_PACKAGES], { env, maxBuffer: 64 * 1024 * 1024 });
  const installed = await probeRuby();
  if (installed === undefined)
    throw new Error('Ruby with Sequel and pg still missing after apt-get');
  return installed;
}

/** Where the numbers came from. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly os: string;
  readonly node: string;
  readonly postgres: string;
  readonly ruby: RubyVersions | undefined;
  /** 1, 5 and 15 minute load averages when the bench began: the machine may be shared. */
  readonly loadAtStart: readonly number[];
}

/** 1, 5 and 15 minute load averages now. */
export function loadAverage(): number[] {
  return os.loadavg().map((load) => Math.round(load * 100) / 100);
}

/** Load averages as `1.00/0.50/0.25`. */
export function formatLoad(load: readonly number[]): string {
  return load.map((l) => l.toFixed(2)).join('/');
}

/** Collects the machine line's facts. */
export async function describeMachine(
  db: pg.Client,
  ruby: RubyVersions | undefined,
): Promise<Machine> {
  const result = await db.query<{ server_version: string }>('SHOW server_version');
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: result.rows[0]?.server_version ?? '?',
    ruby,
    loadAtStart: loadAverage(),
  };
}

/** One line: CPU, cores, OS, Node, Postgres, Ruby/Sequel/pg. */
export function machineLine(machine: Machine): string {
  const ruby =
    machine.ruby === undefined
      ? 'Ruby not used'
      : `Ruby ${machine.ruby.ruby}, Sequel ${machine.ruby.sequel}, pg gem ${machine.ruby.pg}`;
  return `${machine.cpu}, ${machine.cores} cores, ${machine.os}, Node ${machine.node}, PostgreSQL ${machine.postgres}, ${ruby}`;
}

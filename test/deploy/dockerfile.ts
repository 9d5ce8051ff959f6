// A Dockerfile read the way the builder reads it, for the parts our checks need: instructions with
// line continuations joined and comments dropped, grouped into stages, exec-form (JSON) arguments
// parsed, `--flags` split off, and ARG/ENV values expanded. Not a full BuildKit frontend (no
// heredocs, no escape directive): the test fails on anything it does not understand.
import { z } from 'zod';

/** One instruction, e.g. `RUN npm ci`. */
export interface Instruction {
  /** Upper case: RUN, COPY, ENV… */
  readonly keyword: string;
  /** Everything after the keyword and its `--flags`, continuation lines joined. */
  readonly text: string;
  /** `--interval=10s` → `interval: '10s'`; `--from=build` → `from: 'build'`. */
  readonly flags: Readonly<Record<string, string>>;
  /** The arguments in exec form (a JSON array of strings), when written so. */
  readonly exec: readonly string[] | undefined;
  /** 1-based line of the keyword, for failure messages. */
  readonly line: number;
}

/** A `FROM … AS name` stage and its instructions. */
export interface Stage {
  readonly name: string | undefined;
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** ARGs before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

const KEYWORDS = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

const execForm = z.array(z.string());

/** Splits leading `--name=value` flags (and HEALTHCHECK's `CMD`) off an instruction's text. */
function splitFlags(text: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = text;
  for (;;) {
    const match = /^--([a-z-]+)=(\S+)\s*/.exec(rest);
    if (match === null) return { flags, rest };
    flags[match[1] ?? ''] = match[2] ?? '';
    rest = rest.slice(match[0].length);
  }
}

function parseExec(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  return execForm.parse(JSON.parse(text));
}

/** Parses Dockerfile text; throws on an instruction it does not know. */
export function parseDockerfile(source: string): Dockerfile {
  const logical: { text: string; line: number }[] = [];
  let pending: { text: string; line: number } | undefined;
  source.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    // Comments and blank lines may sit inside a continued instruction too.
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trimEnd() : trimmed;
    pending =
      pending === undefined
        ? { text: part, line: index + 1 }
        : { text: `${pending.text} ${part}`, line: pending.line };
    if (!continued) {
      logical.push(pending);
      pending = undefined;
    }
  });
  if (pending !== undefined) throw new Error(`line ${pending.line}: continuation at end of file`);

  const globalArgs: Record<string, string> = {};
  const stages: { name: string | undefined; from: string; instructions: Instruction[] }[] = [];
  for (const { text, line } of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(text);
    const keyword = (match?.[1] ?? '').toUpperCase();
    if (!KEYWORDS.has(keyword)) throw new Error(`line ${line}: unknown instruction ${keyword}`);
    const { flags, rest } = splitFlags(match?.[2] ?? '');
    // HEALTHCHECK [flags] CMD <command>: the command is what runs.
    const args = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest;
    const instruction: Instruction = { keyword, text: args, flags, exec: parseExec(args), line };
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (from === null) throw new Error(`line ${line}: unreadable FROM`);
      stages.push({ name: from[2], from: from[1] ?? '', instructions: [] });
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`line ${line}: ${keyword} before the first FROM`);
      const [name = '', value = ''] = args.split('=', 2);
      globalArgs[name] = value;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

/** The stage called `name`; throws when there is none. */
export function stageNamed(dockerfile: Dockerfile, name: string): Stage {
  const stage = dockerfile.stages.find((s) => s.name === name);
  if (stage === undefined) throw new Error(`no stage ${name}`);
  return stage;
}

/** The last instruction `keyword` of `stage` (CMD, ENTRYPOINT, USER: the last one counts). */
export function lastOf(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

/** Replaces `$NAME` and `${NAME}` from `values`; an unknown name is an error, not an empty string. */
export function expand(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`$${name} is not defined`);
    return value;
  });
}

/**
 * The variables an ENV instruction sets (`ENV A=1 B="x y"`), expanded from `values` (ARGs and
 * earlier ENVs, and the base image's PATH).
 */
export function envOf(
  instruction: Instruction,
  values: Readonly<Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  const pair = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const match of instruction.text.matchAll(pair)) {
    const raw = match[2] ?? '';
    const unquoted = raw.startsWith('"') ? raw.slice(1, -1) : raw;
    env[match[1] ?? ''] = expand(unquoted, { ...values, ...env });
  }
  return env;
}

/**
 * The environment the last stage sets, as a container of the image starts with it; `$PATH` stays
 * a placeholder for the base image's PATH.
 */
export function runtimeEnv(dockerfile: Dockerfile): Record<string, string> {
  const values: Record<string, string> = { ...dockerfile.globalArgs, PATH: '$PATH' };
  let env: Record<string, string> = {};
  for (const instruction of dockerfile.stages.at(-1)?.instructions ?? []) {
    if (instruction.keyword === 'ENV')
      env = { ...env, ...envOf(instruction, { ...values, ...env }) };
  }
  return env;
}

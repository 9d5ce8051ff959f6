import type { Command } from 'commander';
import { ExitCode } from '../exit.ts';
import { formatColumns, printLine } from '../output.ts';
import type { CommandContext } from './context.ts';
import type { QueueState } from '@pg-static-cache/bridge';
import type { StatusFlags, StatusReport } from './status-report.ts';
import { addNamingOptions } from './trigger-command.ts';

/** `1.2 s ago`, `42 s ago`, `3 min ago`, `5 h ago` (`never` for null): ages as a person reads them. */
export function formatAge(ms: number | null): string {
  if (ms === null) return 'never';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
}

function verdict(report: StatusReport): string {
  return report.ok ? 'ok' : `NOT OK: ${report.problems.join('; ')}`;
}

function queueLine(queue: QueueState): string {
  const { waiting, active, delayed, failed } = queue;
  const counts = `${waiting} waiting, ${active} active, ${delayed} delayed, ${failed} failed`;
  return `${queue.paused ? 'PAUSED' : 'running'} (${counts})`;
}

/**
 * The human summary: who leads, who stands by, how fresh the leader's signs of life are, the
 * tables, the regions.
 */
export function formatStatus(report: StatusReport): string {
  const { leader, term } = report;
  const ago = (at: number | null): string => formatAge(at === null ? null : report.at - at);
  const standbys = report.bridges.filter((b) => b.bridge !== leader?.bridge);
  const rows: [string, string][] = [
    ['namespace', report.namespace],
    [
      'leader',
      leader === null
        ? 'none'
        : `${leader.bridge} (epoch ${leader.epoch}, lease renewed ${formatAge(leader.leaseAgeMs)})`,
    ],
    [
      'standbys',
      standbys.length === 0
        ? 'none'
        : standbys.map((b) => `${b.bridge} (seen ${formatAge(b.ageMs)})`).join(', '),
    ],
  ];
  if (term !== null) {
    const reason = term.lastResyncReason === null ? '' : ` (${term.lastResyncReason})`;
    const drifted = term.lastDrifted === null ? '' : `, ${term.lastDrifted} drifted`;
    rows.push(
      ['term began', ago(term.leaderSince)],
      ['heartbeat', formatAge(term.heartbeatAgeMs)],
      ['resync', `${ago(term.lastResyncAt)}${reason}`],
      ['drift check', `${ago(term.lastCheckAt)}${term.lastCheckAt === null ? '' : drifted}`],
    );
  }
  if (report.queue !== null) rows.push(['reload queue', queueLine(report.queue)]);
  rows.push(['triggers', report.triggers === 'live' ? 'checked now' : 'as the leader recorded']);
  const lines = [formatColumns(rows.map(([key, value]) => [`${key}:`, value]))];
  if (report.tables.length > 0) {
    const drift = (d: boolean | null): string => (d === null ? '-' : d ? 'yes' : 'no');
    const snapshot = (v: number | null | undefined): string => (v == null ? '-' : `v${v}`);
    const tableRows = report.tables.map((t) => [
      t.table,
      t.state,
      drift(t.drifted),
      snapshot(t.snapshotVersion),
    ]);
    lines.push('', formatColumns([['TABLE', 'TRIGGER', 'DRIFTED', 'SNAPSHOT'], ...tableRows]));
  }
  if (report.regions.length > 0) {
    const regionRows = report.regions.map((r) => [
      r.region,
      r.state,
      ago(r.lastPublishAt),
      r.queued === null ? '-' : String(r.queued),
      r.owesResync ? 'yes' : 'no',
    ]);
    const header = ['REGION', 'STATE', 'LAST PUBLISH', 'QUEUED', 'RESYNC OWED'];
    lines.push('', formatColumns([header, ...regionRows]));
  }
  lines.push('', `status: ${verdict(report)}`);
  return lines.join('\n');
}

/** `status`: the leader, the standbys, and whether every watched table's trigger works. */
export function registerStatus(program: Command, context: CommandContext): Command {
  const command = program
    .command('status')
    .description(
      "show the bridges' leader, standbys, signs of life, the watched tables' triggers and the regions",
    )
    .option('--namespace <name>', 'namespace of the bridges (PSC_NAMESPACE; default: psc)')
    .option('--json', 'print the report as one JSON object');
  addNamingOptions(command)
    .addHelpText(
      'after',
      `
Reads Redis (REDIS_URL or --redis-url): the leader lease, the bridges' presence, the leader's
status record and the reload queue. With DATABASE_URL (or --database-url) the triggers are checked live, else the
leader's last recorded check is shown. The naming flags default to what the leader recorded.

--json prints {"namespace","ok","problems","at","leader","bridges","term","triggers","tables","queue",
"regions"}:
  problems [string], one line per problem (empty when ok)
  leader   null | {"bridge","epoch","backendPid","renewedAt","leaseAgeMs"}
  bridges  [{"bridge","role","epoch","pid","host","lastSeenAt","ageMs"}]
  term     null | {"bridge","epoch","leaderSince","lastHeartbeatAt","heartbeatAgeMs",
                   "heartbeatMs","lastResyncAt","lastResyncReason","lastCheckAt","lastDrifted"}
  triggers "live" | "recorded"
  tables   [{"table","state","ok","drifted","snapshotVersion"}]
           (state: ok, missing, disabled, wrong-channel, ...; snapshotVersion: null when none stored)
  queue    {"paused","waiting","active","delayed","failed"}: the reload queue
  regions  [{"region","state","lastPublishAt","failingSince","reason","queued","owesResync"}]:
           the regions besides home (bridge --region) as of the leader's last heartbeat
           (state: idle, ok, failing); empty without regions
Times are ms since the Unix epoch, ages in ms; an unknown value is null.

Exits 0 when a leader holds the lease and publishes its heartbeats, every table's trigger is ok,
the reload queue is not paused and no region's publishes are failing; 1 otherwise; 2 on bad input or when Redis (or the given
database) cannot be reached.`,
    )
    .action(async (_options: unknown, self: Command) => {
      const flags = self.optsWithGlobals<StatusFlags>();
      // Loaded only here: it needs the bridge package, which would slow every other command.
      const { loadStatus } = await import('./status-report.ts');
      const report = await loadStatus(flags, context.env);
      printLine(flags.json === true ? JSON.stringify(report) : formatStatus(report));
      context.done(report.ok ? ExitCode.OK : ExitCode.NOT_OK);
    });
  return command;
}

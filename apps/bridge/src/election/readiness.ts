import type { ListenStatus } from '@pg-static-cache/postgres';
import type { Readiness } from '../ops/http-server.ts';
import type { RegionReport } from '../publishing/region-link.ts';
import { roleOf, type LeadershipState } from './leadership-state.ts';
import type { ServiceHealth } from './standby-watch.ts';
import type { TermHealth } from './term-health.ts';

/** What /readyz reads of a term. */
export interface TermView {
  readonly epoch: number;
  readonly health: Pick<TermHealth, 'report'>;
}

/** What a bridge knows about itself when /readyz asks. */
export interface ReadinessInput {
  readonly state: LeadershipState<TermView>;
  readonly bridge: string;
  /** Status of the leader's LISTEN session; undefined when there is none. */
  readonly listen: ListenStatus | undefined;
  /** What the standby's last poll reached. */
  readonly standby: ServiceHealth;
  /**
   * The other regions, as a leader reports them. Shown, never a reason to be unready: readiness
   * is about home (the lease, LISTEN, home publishes), which every bridge shares; a region's Redis
   * being down is no reason to fail over (any other bridge would reach it no better) nor to take
   * the leader out of service, so it is alerted on by its own metrics (psc_bridge_region_up).
   */
  readonly regions?: readonly RegionReport[];
}

// Why a leader cannot do its job now, or undefined: a leader is ready only while it LISTENs, has a
// term, and that term's publishes and lease renewals go through.
function leaderProblem(
  state: Extract<LeadershipState<TermView>, { kind: 'leading' | 'leading-without-term' }>,
  listen: ListenStatus | undefined,
): string | undefined {
  if (listen === undefined) return 'no LISTEN session';
  if (listen !== 'ready') return `LISTEN session ${listen}`;
  if (state.kind === 'leading-without-term') return 'no leadership term yet (Redis not answering?)';
  return state.term.health.report().problem;
}

// A standby is ready when it could take over: its last poll reached Postgres and wrote to Redis.
function standbyProblem({ postgres, redis }: ServiceHealth): string | undefined {
  const missing = [postgres ? [] : ['Postgres'], redis ? [] : ['Redis']].flat();
  return missing.length === 0 ? undefined : `cannot reach ${missing.join(' or ')}`;
}

/** /readyz of a bridge, from its leadership state: 200 when it can do its job, else 503 with the reason. */
export function bridgeReadiness(input: ReadinessInput): Readiness {
  const { state, regions = [] } = input;
  const role = roleOf(state);
  const term = state.kind === 'leading' ? state.term : undefined;
  let problem: string | undefined;
  switch (state.kind) {
    case 'leading':
    case 'leading-without-term':
      problem = leaderProblem(state, input.listen);
      break;
    case 'standby':
    case 'acquiring':
      problem = standbyProblem(input.standby);
      break;
    case 'stopped':
      problem = 'stopped';
      break;
  }
  return {
    ready: problem === undefined,
    body: {
      role,
      epoch: term?.epoch ?? null,
      bridge: input.bridge,
      listen: input.listen ?? null,
      ...(role === 'leader' ? { lastPublishAt: term?.health.report().lastPublishAt ?? null } : {}),
      ...(role === 'leader' && regions.length > 0
        ? { regions: Object.fromEntries(regions.map(({ region, ...rest }) => [region, rest])) }
        : {}),
      ...(role === 'standby' ? input.standby : {}),
      ...(problem === undefined ? {} : { reason: problem }),
    },
  };
}

import type { BridgeRole } from '@pg-static-cache/protocol';
import type { Readiness } from './http-server.ts';
import type { Leadership } from './leadership.ts';
import type { ServiceHealth } from './standby-watch.ts';

/** What a bridge knows about itself when /readyz asks. */
export interface ReadinessState {
  readonly role: BridgeRole;
  readonly bridge: string;
  readonly leadership: Leadership | undefined;
  /** What the standby's last poll reached. */
  readonly standby: ServiceHealth;
}

// Why a leader cannot do its job now, or undefined: a leader is ready only while it LISTENs, has a
// term, and that term's publishes and lease renewals go through.
function leaderProblem(leadership: Leadership | undefined): string | undefined {
  if (leadership === undefined) return 'no LISTEN session';
  if (leadership.listenStatus !== 'ready') return `LISTEN session ${leadership.listenStatus}`;
  const { term } = leadership;
  if (term === undefined) return 'no leadership term yet (Redis not answering?)';
  return term.health.report().problem;
}

// A standby is ready when it could take over: its last poll reached Postgres and wrote to Redis.
function standbyProblem({ postgres, redis }: ServiceHealth): string | undefined {
  const missing = [postgres ? [] : ['Postgres'], redis ? [] : ['Redis']].flat();
  return missing.length === 0 ? undefined : `cannot reach ${missing.join(' or ')}`;
}

/** /readyz of a bridge: 200 when it can do its job, else 503 with the reason; JSON either way. */
export function bridgeReadiness(state: ReadinessState): Readiness {
  const { role, leadership } = state;
  const term = leadership?.term;
  const problem =
    role === 'leader'
      ? leaderProblem(leadership)
      : role === 'standby'
        ? standbyProblem(state.standby)
        : 'stopped';
  return {
    ready: problem === undefined,
    body: {
      role,
      epoch: term?.epoch ?? null,
      bridge: state.bridge,
      listen: leadership?.listenStatus ?? null,
      ...(role === 'leader' ? { lastPublishAt: term?.health.report().lastPublishAt ?? null } : {}),
      ...(role === 'standby' ? state.standby : {}),
      ...(problem === undefined ? {} : { reason: problem }),
    },
  };
}

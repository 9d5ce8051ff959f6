import {
  BRIDGE_ROLES,
  type BridgeRole,
  type Message,
  type ResyncReason,
} from '@pg-static-cache/protocol';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RegionMetrics } from './region-metrics.ts';

/** Why a message did not go out (the `reason` of psc_bridge_publish_failures_total). */
export type PublishFailure = 'unreachable' | 'refused' | 'lease-absent' | 'lease-taken';

const PUBLISH_FAILURES: readonly PublishFailure[] = [
  'unreachable',
  'refused',
  'lease-absent',
  'lease-taken',
];

/** Why a notification did not become an invalidate message. */
export type DropReason = 'not-an-oid' | 'unknown-table' | 'no-term';

/**
 * A registry holding Node's and the process's default metrics under their standard names
 * (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`...), which stock Node dashboards
 * and alerts read; product metrics (`psc_*`) join it. One per /metrics endpoint: a bridge (its
 * in-process worker shares it) or a worker run alone.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Every Prometheus metric of one bridge, in a registry of its own (several bridges in one process,
 * as in tests or an embedding app, must not share or collide in the global one).
 */
export class BridgeMetrics {
  readonly registry = processRegistry();
  // Declared before the fields that call it (field initializers run in order).
  readonly #counter = <L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Counter<L> => new Counter({ name, help, labelNames, registers: [this.registry] });
  readonly notifications = this.#counter(
    'psc_bridge_notifications_received_total',
    'NOTIFY messages received on the LISTEN session',
  );
  readonly notificationsFolded = this.#counter(
    'psc_bridge_notifications_folded_total',
    'Notifications that arrived while their table had an invalidate in flight: all such are covered by one more invalidate after it',
  );
  readonly notificationsDropped = this.#counter(
    'psc_bridge_notifications_dropped_total',
    'Notifications not published: payload not an OID, OID not a table, or no leadership term (covered by its resync)',
    ['reason'],
  );
  readonly published = this.#counter(
    'psc_bridge_messages_published_total',
    'Messages published on the events channel, by type',
    ['type'],
  );
  readonly fenced = this.#counter(
    'psc_bridge_publishes_fenced_total',
    'Publishes dropped by the lease fence: lease-taken (another term holds it) or lease-absent (Redis lost it)',
    ['reason'],
  );
  readonly publishFailures = this.#counter(
    'psc_bridge_publish_failures_total',
    'Messages that did not go out: Redis unreachable, Redis refused (OOM, READONLY), or dropped by the lease fence (lease-absent, lease-taken); clients see the seq gap and resync',
    ['reason'],
  );
  readonly renewalFailures = this.#counter(
    'psc_bridge_lease_renewal_failures_total',
    'Lease renewals that failed: Redis unreachable or refused (OOM, READONLY)',
    ['reason'],
  );
  readonly lastPublish = new Gauge({
    name: 'psc_bridge_last_publish_timestamp_seconds',
    help: 'When this bridge last published a message (seconds since the Unix epoch; 0 before the first)',
    registers: [this.registry],
  });
  readonly invalidControl = this.#counter(
    'psc_bridge_control_messages_invalid_total',
    'Messages on the control channel that failed validation',
  );
  readonly resyncs = this.#counter(
    'psc_bridge_resyncs_total',
    'Resync messages published, by reason',
    ['reason'],
  );
  readonly resyncRuns = this.#counter(
    'psc_bridge_scheduled_resync_runs_total',
    'Scheduled resync runs (trigger check and digest comparison) completed',
  );
  readonly drift = this.#counter(
    'psc_bridge_drift_tables_total',
    'Tables whose digest changed without an announced invalidate',
  );
  readonly leaderChanges = this.#counter(
    'psc_bridge_leader_changes_total',
    'Times this bridge became leader (to="leader") or stopped leading (to="standby")',
    ['to'],
  );
  readonly fencings = this.#counter(
    'psc_bridge_fencings_total',
    'Backends holding the leader lock that this bridge terminated',
  );
  readonly listenReconnects = this.#counter(
    'psc_bridge_listen_reconnects_total',
    'Times the LISTEN session was re-established after a loss',
  );
  readonly epoch = new Gauge({
    name: 'psc_bridge_epoch',
    help: 'Epoch of the current leadership term (0 when not leading)',
    registers: [this.registry],
  });
  readonly role = new Gauge({
    name: 'psc_bridge_role',
    help: '1 for the role this bridge has now, 0 for the others',
    labelNames: ['role'] as const,
    registers: [this.registry],
  });
  /** The per-region series (see docs/regions.md). */
  readonly regions = new RegionMetrics(this.registry);
  readonly lag = new Histogram({
    name: 'psc_bridge_notify_to_publish_seconds',
    help: 'Time from a notification arriving to its invalidate being published',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor() {
    this.setRole('standby');
    // Zero series from the start, so dashboards and alerts see 0 rather than nothing.
    for (const reason of ['not-an-oid', 'unknown-table', 'no-term'] satisfies DropReason[]) {
      this.notificationsDropped.inc({ reason }, 0);
    }
    for (const reason of ['lease-taken', 'lease-absent'] as const) this.fenced.inc({ reason }, 0);
    for (const reason of PUBLISH_FAILURES) this.publishFailures.inc({ reason }, 0);
    for (const reason of ['unreachable', 'refused'] as const) {
      this.renewalFailures.inc({ reason }, 0);
    }
  }

  /** Moves the role gauge. */
  setRole(role: BridgeRole): void {
    for (const r of BRIDGE_ROLES) this.role.set({ role: r }, r === role ? 1 : 0);
  }

  /** Counts one published message. */
  countPublished(message: Message): void {
    this.published.inc({ type: message.type });
    if (message.type === 'resync')
      this.resyncs.inc({ reason: message.reason satisfies ResyncReason });
  }
}

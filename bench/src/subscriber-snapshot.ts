// Our snapshot-mode side of the bench: a snapshot-mode subscriber with default settings, following
// the bench bridge's messages and loading the snapshots its reload worker stores in Redis (Postgres
// only as a fallback), reporting each reload in the protocol of protocol.ts. Started by the driver
// with DATABASE_URL and REDIS_URL set (and a bridge leading); stops on SIGTERM.
import { createSubscriber } from '@pg-static-cache/client';
import { requireEnv, runSubscriber } from './subscriber-runner.ts';
import { BENCH_NAMESPACE } from './workload.ts';

const url = requireEnv('DATABASE_URL');
const redis = requireEnv('REDIS_URL');

await runSubscriber((cache) =>
  createSubscriber({
    mode: 'snapshot',
    pg: url,
    redis,
    namespace: BENCH_NAMESPACE,
    caches: [cache],
  }),
);

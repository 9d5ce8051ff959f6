// Our direct-mode side of the bench: a direct-mode subscriber with default settings (its own
// LISTEN session), reporting each reload in the protocol of protocol.ts. Started by the driver
// with DATABASE_URL set; stops on SIGTERM.
import { createSubscriber } from '@pg-static-cache/client';
import { requireEnv, runSubscriber } from './subscriber-runner.ts';
import { BENCH_CHANNEL } from './workload.ts';

const url = requireEnv('DATABASE_URL');

await runSubscriber((cache) =>
  createSubscriber({
    mode: 'direct',
    pg: url,
    channel: BENCH_CHANNEL,
    caches: [cache],
  }),
);

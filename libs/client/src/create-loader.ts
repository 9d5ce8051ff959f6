import type { SourceOptions } from './create-source.ts';
import { ClientError } from './errors.ts';
import { PostgresLoader } from './postgres-loader.ts';
import { namesIn } from './redis-connection.ts';
import { Replica } from './replica.ts';
import type { LoaderContext, RowLoader } from './row-loader.ts';
import { signerFor } from './signing-key.ts';
import { snapshotWaitMs, SnapshotLoader } from './snapshot-loader.ts';
import { typeParsersOf } from './snapshot-rows.ts';

/**
 * The one place that decides where a subscriber's rows come from: stored snapshots in snapshot
 * mode (falling back to Postgres), the table itself in direct and redis mode; table queries read
 * the replica, when there is one, once it replayed what they must include.
 */
export function createRowLoader(options: SourceOptions, context: LoaderContext): RowLoader {
  const replica =
    options.replica === undefined
      ? undefined
      : new Replica(options.replica, options.replicaWaitMs, context.warn);
  const types = typeParsersOf(options.pg);
  const postgres = new PostgresLoader(context, types, replica);
  if (options.mode !== 'snapshot') return postgres;
  const { redis, backoff } = options;
  // createSource refuses snapshot mode without `redis` first; checked again for the type.
  if (redis === undefined) throw new ClientError('INVALID_OPTIONS', 'snapshot mode needs redis');
  return new SnapshotLoader({
    context,
    postgres,
    redis,
    names: namesIn(redis, options.namespace),
    ...(backoff === undefined ? {} : { backoff }),
    waitMs: snapshotWaitMs(options.snapshotWaitMs),
    signer: signerFor(options.signingKey),
    types,
  });
}

/**
 * PgBouncer for the scale-out benchmark: the data package's test support (Debian's pgbouncer, transaction
 * pooling, on a free loopback port) in front of the private primary's benchmark database. Its server pool is as
 * large as the service's own pools together (WORKERS x DB_POOL_SIZE), so the comparison is of the extra hop and
 * process, not of a smaller pool.
 */
import { PgBouncer } from '@user-service/data/testing';
import { BENCH_DATABASE, type PostgresPair } from './scale-servers.js';

export { pgbouncerUnavailable } from '@user-service/data/testing';

/** The service's default DB_POOL_SIZE (config.ts): connections per process. */
const SERVICE_POOL_SIZE = 5;

export async function startPgBouncer(
  pair: PostgresPair,
  workers: number,
): Promise<{ url: string; poolSize: number; version: string; stop(): Promise<void> }> {
  const poolSize = workers * SERVICE_POOL_SIZE;
  const bouncer = await PgBouncer.start({
    host: '127.0.0.1',
    port: pair.primary.port,
    database: BENCH_DATABASE,
    user: 'postgres',
    poolSize,
    poolMode: 'transaction',
  });
  const [row] = await bouncer.admin('SHOW VERSION').catch(() => []);
  return {
    // With ?pgbouncer=true, which tells the postgres dialect a pooler in transaction mode is in front.
    url: bouncer.url,
    poolSize,
    version: String(row ? Object.values(row)[0] : 'PgBouncer'),
    stop: () => bouncer.stop(),
  };
}

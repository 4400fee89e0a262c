import { Kysely, type Dialect as KyselyDialect } from 'kysely';
import { countingDialect, kyselyLogger } from '../observe.js';
import type { ConnectOptions, DialectConnection } from './dialect.js';

/**
 * A Kysely over the driver's pool; closing it drains the pool (what every dialect's `connect` returns).
 * `max` is the most connections the pool opens and `idle` reads the pool's idle count where the driver has one.
 */
export function kyselyConnection(
  driver: KyselyDialect,
  pool: { max: number; idle?: () => number },
  options: ConnectOptions = {},
): DialectConnection {
  const counted = countingDialect(driver, pool.max, pool.idle);
  // Kysely times queries only when `log` is set: without an observer no query pays for it.
  const kysely = new Kysely<any>({
    dialect: counted.dialect,
    ...(options.onQuery ? { log: kyselyLogger(options.onQuery) } : {}),
  });
  return { kysely, close: () => kysely.destroy(), stats: counted.stats };
}

import { Kysely, type Dialect as KyselyDialect } from 'kysely';
import type { DialectConnection } from './dialect.js';

/** A Kysely over the driver's pool; closing it drains the pool (what every dialect's `connect` returns). */
export function kyselyConnection(driver: KyselyDialect): DialectConnection {
  const kysely = new Kysely<any>({ dialect: driver });
  return { kysely, close: () => kysely.destroy() };
}

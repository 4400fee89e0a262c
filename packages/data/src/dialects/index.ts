import type { DialectKind } from '../database-url.js';
import type { Dialect } from './dialect.js';

/**
 * Each dialect (and so its driver) is imported only when a URL asks for it: a SQLite service never loads pg
 * or mysql2, which saves start-up time and tens of megabytes per process.
 */
export async function loadDialect(kind: DialectKind): Promise<Dialect> {
  switch (kind) {
    case 'sqlite':
      return (await import('./sqlite.js')).sqliteDialect;
    case 'postgres':
      return (await import('./postgres.js')).postgresDialect;
    case 'mysql':
      return (await import('./mysql.js')).mysqlDialect;
  }
}

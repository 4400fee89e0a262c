import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from './dialects/dialect.js';
import { DataError } from './errors.js';
import type { CursorCodec } from './pagination.js';
import type { Repository, RepositoryProvider } from './repository.js';
import { SqlRepository } from './sql-repository.js';
import type { TableDefinition } from './table.js';

/** Repositories bound to one executor: the pool (each call on its own) or a transaction (a unit of work). */
export class SqlScope implements RepositoryProvider {
  /**
   * One repository per table, made on first use: they hold no state of their own, and the service asks for
   * one on every call (UserRepository's `table`), which cost ~2 us of construction each (issue 13).
   */
  private readonly repositories = new Map<TableDefinition<any, any, any>, Repository<any, any, any>>();

  constructor(
    readonly executor: Kysely<any> | Transaction<any>,
    private readonly dialect: Dialect,
    private readonly cursors: CursorCodec,
  ) {}

  repository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret> {
    let repository = this.repositories.get(table);
    if (!repository) {
      repository = new SqlRepository(this.executor, this.dialect, table, this.cursors);
      this.repositories.set(table, repository);
    }
    return repository as Repository<Row, Optional, Secret>;
  }
}

/**
 * Runs `work` in one transaction. It commits when `work` resolves and rolls back when it throws, whatever it
 * throws; nothing inside can commit early, because repositories only ever see the transaction.
 */
export async function runUnitOfWork<T>(
  kysely: Kysely<any>,
  dialect: Dialect,
  cursors: CursorCodec,
  work: (uow: RepositoryProvider) => Promise<T>,
): Promise<T> {
  try {
    return await kysely.transaction().execute((trx) => work(new SqlScope(trx, dialect, cursors)));
  } catch (error) {
    // BEGIN or COMMIT itself can fail (the connection dropped); report that like any other statement.
    if (error instanceof DataError) throw error;
    throw dialect.mapError(error) ?? error;
  }
}

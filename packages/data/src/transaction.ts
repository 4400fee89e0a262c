import { setTimeout as delay } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from './dialects/dialect.js';
import { DataError, TransactionConflictError } from './errors.js';
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
 * How many times a unit of work runs in all when the database rolls it back for a conflict with a concurrent one
 * (TransactionConflictError: a deadlock, a serialization failure). Each such rollback undoes everything, so the
 * next run starts clean; a conflict that survives this many runs is load, reported like an unavailable database.
 */
const CONFLICT_ATTEMPTS = 4;
/** Upper bound of the random pause before run n+1 (n x this, in ms): the two sides of a deadlock then part. */
const CONFLICT_BACKOFF_MS = 10;

/**
 * Runs `work` in one transaction. It commits when `work` resolves and rolls back when it throws, whatever it
 * throws; nothing inside can commit early, because repositories only ever see the transaction.
 *
 * When the database ends the transaction to break a deadlock (or a serialization failure), `work` runs again
 * from the start in a new transaction, up to CONFLICT_ATTEMPTS runs: so `work` must keep its effects inside the
 * unit of work (writes through `uow`), or make them safe to repeat. Every service closure does.
 */
export async function runUnitOfWork<T>(
  kysely: Kysely<any>,
  dialect: Dialect,
  cursors: CursorCodec,
  work: (uow: RepositoryProvider) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await kysely.transaction().execute((trx) => work(new SqlScope(trx, dialect, cursors)));
    } catch (error) {
      // BEGIN or COMMIT itself can fail (the connection dropped); report that like any other statement.
      const mapped = error instanceof DataError ? error : (dialect.mapError(error) ?? error);
      if (!(mapped instanceof TransactionConflictError) || attempt >= CONFLICT_ATTEMPTS) throw mapped;
      await delay(Math.random() * CONFLICT_BACKOFF_MS * attempt);
    }
  }
}

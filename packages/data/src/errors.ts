/**
 * One error type per failure, identical on every database. Dialect files translate driver errors into
 * these, so callers (services, HTTP error handlers) never look at driver codes or SQL text.
 */

export class DataError extends Error {
  override name = 'DataError';
}

/** A unique constraint rejected a write. `columns` is filled on every database (see Repository). */
export class UniqueViolationError extends DataError {
  override name = 'UniqueViolationError';
  constructor(
    readonly columns: string[],
    readonly constraint: string | undefined,
    options?: ErrorOptions,
  ) {
    super(`Unique constraint violated${columns.length ? ` on ${columns.join(', ')}` : ''}`, options);
  }
}

export class ForeignKeyViolationError extends DataError {
  override name = 'ForeignKeyViolationError';
  constructor(
    readonly constraint: string | undefined,
    options?: ErrorOptions,
  ) {
    super('Foreign key constraint violated: the referenced row does not exist or is still referenced', options);
  }
}

/** A NOT NULL or CHECK constraint rejected a write. */
export class ConstraintViolationError extends DataError {
  override name = 'ConstraintViolationError';
  constructor(
    readonly kind: 'not_null' | 'check',
    readonly column: string | undefined,
    options?: ErrorOptions,
  ) {
    super(
      kind === 'not_null' ? `Column ${column ?? '(unknown)'} must not be null` : 'Check constraint violated',
      options,
    );
  }
}

/** The database cannot be reached (refused, dropped, shut down, pool exhausted). Callers may retry later. */
export class DatabaseUnavailableError extends DataError {
  override name = 'DatabaseUnavailableError';
  constructor(message = 'Database unavailable', options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The database rolled this transaction back to resolve a conflict with a concurrent one (a deadlock, or a
 * serialization failure): nothing of it was applied, and running it again normally succeeds. A unit of work
 * retries itself on this error a few times before it reaches the caller, who then sees an unavailable
 * database (503 + Retry-After in the service), as for any other transient failure.
 */
export class TransactionConflictError extends DatabaseUnavailableError {
  override name = 'TransactionConflictError';
  constructor(message = 'Transaction rolled back by a conflict with a concurrent one', options?: ErrorOptions) {
    super(message, options);
  }
}

/** A keyset cursor that was not produced by this library, or was altered. */
export class InvalidCursorError extends DataError {
  override name = 'InvalidCursorError';
  constructor(message = 'Invalid cursor') {
    super(message);
  }
}

/** A filter or ordering naming a column the table does not have, or a malformed operator. */
export class InvalidQueryError extends DataError {
  override name = 'InvalidQueryError';
}

/** A DATABASE_URL that cannot be used: unknown scheme, malformed, or an untested engine. */
export class DatabaseUrlError extends DataError {
  override name = 'DatabaseUrlError';
}

export class MigrationError extends DataError {
  override name = 'MigrationError';
  constructor(
    message: string,
    readonly migration: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

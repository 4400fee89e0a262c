import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The bound on each query, shared by the server dialects. The pool's `queryTimeoutMs` applies unless the code
 * that issued the query runs inside `withQueryTimeout`: a readiness probe asks for a shorter bound, migrations
 * for none (0), since building an index on a large table may rightly take minutes.
 */
const scope = new AsyncLocalStorage<number>();

/** Runs `fn` with every query it issues bounded by `ms` instead of the pool's default (0: no bound). */
export function withQueryTimeout<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  return scope.run(ms, fn);
}

/** The bound for a query issued now: the innermost `withQueryTimeout`, else the pool's default. */
export function queryTimeoutFor(poolDefault: number): number {
  return scope.getStore() ?? poolDefault;
}

/**
 * A query that did not answer in time. The dialects map it to DatabaseUnavailableError; the connection that
 * carried it is destroyed, never handed out again (it may still be waiting for the server's answer).
 */
export class QueryTimeoutError extends Error {
  override name = 'QueryTimeoutError';
  readonly code = 'QUERY_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`Query did not complete within ${timeoutMs} ms`);
  }
}

/** No connection became free (or could be opened) in time. */
export class AcquireTimeoutError extends Error {
  override name = 'AcquireTimeoutError';
  readonly code = 'ACQUIRE_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`No database connection available within ${timeoutMs} ms`);
  }
}

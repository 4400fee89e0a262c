import type { Dialect as KyselyDialect, LogEvent, OperationNode, RootOperationNode } from 'kysely';

/**
 * What the data layer tells an observer (metrics, traces) about each query, without depending on either: one
 * event per statement Kysely runs (repository calls, units of work, migrations), after it finished.
 */
export interface QueryEvent {
  /** The statement's kind: what a metric label or span name can group by. */
  operation: 'select' | 'insert' | 'update' | 'delete' | 'other';
  /** The table the statement reads or writes first, when it names one. */
  table: string | undefined;
  /** The SQL text with placeholders; parameter values are never part of an event (they may be secrets). */
  sql: string;
  /** When it started and how long it took, in ms (epoch ms, so a tracer can place a span after the fact). */
  startedAt: number;
  durationMs: number;
  /** Set when the statement failed. */
  error?: unknown;
}

export type QueryObserver = (event: QueryEvent) => void;

/** Connections as the service's queries see them: held by a query or transaction, or waited for. */
export interface PoolStats {
  /** The most connections the pool opens (1 for SQLite's single connection). */
  max: number;
  inUse: number;
  /** Open connections nobody holds. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
}

const OPERATIONS: Record<string, QueryEvent['operation']> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
};

/** The first table a statement names: FROM's first entry, INSERT's INTO, UPDATE's table. */
function tableOf(node: RootOperationNode): string | undefined {
  const n = node as unknown as {
    from?: { froms?: readonly OperationNode[] };
    into?: OperationNode;
    table?: OperationNode;
  };
  const first = n.into ?? n.table ?? n.from?.froms?.[0];
  return first ? tableName(first) : undefined;
}

function tableName(node: OperationNode): string | undefined {
  const n = node as unknown as { kind: string; node?: OperationNode; table?: { identifier?: { name?: string } } };
  if (n.kind === 'AliasNode' && n.node) return tableName(n.node);
  return n.kind === 'TableNode' ? n.table?.identifier?.name : undefined;
}

/** Kysely's `log` option, turned into QueryEvents for `observer`. */
export function kyselyLogger(observer: QueryObserver): (event: LogEvent) => void {
  return (event) => {
    const root = event.query.query;
    const durationMs = event.queryDurationMillis;
    observer({
      operation: OPERATIONS[root.kind] ?? 'other',
      table: tableOf(root),
      sql: event.query.sql,
      // On the wall clock as read now (the statement has just ended), as a tracer places a live span: the
      // monotonic clock's performance.timeOrigin + now() drifts from Date.now() while the wall clock is slewed,
      // and a query span then fell outside its request's span (by more than 5 ms on a loaded CI machine).
      startedAt: Date.now() - durationMs,
      durationMs,
      ...(event.level === 'error' ? { error: event.error } : {}),
    });
  };
}

/**
 * Wraps a Kysely dialect so that connections held and waited for are counted, the same way on every database
 * (each driver's pool reports differently, SQLite's has none). `idle` comes from the dialect when its pool
 * can tell, else it is the connections not in use out of those the pool may open.
 */
export function countingDialect(
  dialect: KyselyDialect,
  max: number,
  idle?: () => number,
): { dialect: KyselyDialect; stats: () => PoolStats } {
  let inUse = 0;
  let waiting = 0;
  const wrapped: KyselyDialect = {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver() {
      const driver = dialect.createDriver();
      // Made once, not on each property read: Kysely reads both on every query (issue 13).
      const acquireConnection = async () => {
        waiting++;
        try {
          const connection = await driver.acquireConnection();
          inUse++;
          return connection;
        } finally {
          waiting--;
        }
      };
      const releaseConnection = (connection: Parameters<typeof driver.releaseConnection>[0]) => {
        inUse--;
        return driver.releaseConnection(connection);
      };
      // A proxy so that the driver's optional methods (savepoints) stay exactly as the driver has them.
      return new Proxy(driver, {
        get(target, property, receiver) {
          if (property === 'acquireConnection') return acquireConnection;
          if (property === 'releaseConnection') return releaseConnection;
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
  return {
    dialect: wrapped,
    stats: () => ({ max, inUse, waiting, idle: idle ? idle() : Math.max(0, max - inUse) }),
  };
}

import { DatabaseUnavailableError } from '../errors.js';
import type { DataStore, Repository, RepositoryProvider } from '../repository.js';
import type { TableDefinition } from '../table.js';
import { currentScope } from './consistency.js';
import type { ReplicaNode, ReplicaSet } from './replica-set.js';

/** The repository methods that only read, and so may run on a replica. */
const READS = new Set(['get', 'getBy', 'list', 'count', 'exists']);

/**
 * A DataStore whose plain reads may be served by a replica, as fresh as the current consistency scope needs
 * (see consistency.ts): a read goes to the primary when the scope has written, or when no replica in the
 * rotation has replayed the scope's required position; otherwise to the next such replica. Reads that ask for
 * secret columns (credentials: login, token checks) always go to the primary, as do writes and units of work.
 * A read that fails on its replica is retried once on the primary; a replica that failed as if it were gone
 * is taken out of the rotation.
 */
export class RoutedStore implements DataStore {
  private readonly repositories = new Map<TableDefinition<any, any, any>, Repository<any, any, any>>();

  constructor(
    private readonly primary: DataStore,
    private readonly replicas: ReplicaSet,
  ) {}

  unitOfWork<T>(work: (uow: RepositoryProvider) => Promise<T>): Promise<T> {
    return this.primary.unitOfWork(work);
  }

  repository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string = never>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret> {
    let routed = this.repositories.get(table);
    if (!routed) {
      routed = this.route(table);
      this.repositories.set(table, routed);
    }
    return routed as Repository<Row, Optional, Secret>;
  }

  private route<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret> {
    const primary = this.primary.repository(table);
    const replicas = this.replicas;
    const routed: Record<string, unknown> = {};
    for (const method of Object.keys(primaryMethods(primary))) {
      const onPrimary = (primary as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!.bind(
        primary,
      );
      if (!READS.has(method)) {
        routed[method] = onPrimary;
        continue;
      }
      routed[method] = async (...args: unknown[]) => {
        const node = asksForSecrets(args) ? undefined : pickFor(replicas);
        if (!node) return onPrimary(...args);
        const onReplica = node.repository(table) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        try {
          node.reads++;
          return await onReplica[method]!(...args);
        } catch (error) {
          // Gone (or cancelled by a conflict with recovery): out of rotation until a probe answers. Any other
          // failure is retried on the primary too, without taking the replica out: a replica still replaying a
          // migration lacks the new table or column for a moment, and that must not reach the client as a 500.
          // A client's own mistake (a bad cursor) fails the same way on the primary.
          if (error instanceof DatabaseUnavailableError) replicas.markDown(node, error);
          return onPrimary(...args);
        }
      };
    }
    return routed as unknown as Repository<Row, Optional, Secret>;
  }
}

/** The replica for a read in the current scope, or undefined for the primary. */
function pickFor(replicas: ReplicaSet): ReplicaNode | undefined {
  const scope = currentScope();
  if (scope?.wrote) return undefined;
  return replicas.pick(scope?.required);
}

/** get/getBy/list take `{ secrets: [...] }` as their last argument when they read credentials. */
function asksForSecrets(args: unknown[]): boolean {
  const read = args.at(-1) as { secrets?: unknown } | undefined;
  return Array.isArray(read?.secrets) && read.secrets.length > 0;
}

/** The repository's methods, own and inherited (SqlRepository is a class). */
function primaryMethods(repository: object): Record<string, true> {
  const names: Record<string, true> = {};
  for (
    let proto = Object.getPrototypeOf(repository);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof (repository as Record<string, unknown>)[name] === 'function')
        names[name] = true;
    }
  }
  return names;
}

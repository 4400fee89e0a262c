import { fileURLToPath } from 'node:url';
import { type Database, Migrator, openDatabase, type QueryObserver } from '@user-service/data';
import { PasswordHasher } from './auth/password-hasher.js';
import type { Config } from './config.js';

// From source (tsx) this file is src/runtime.ts and the migrations are ../migrations/*.ts; in the build it is
// bundled into dist/main.js and the compiled migrations sit beside it in dist/migrations/*.js.
export const MIGRATIONS_DIR = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../migrations' : './migrations', import.meta.url),
);

export interface Runtime {
  database: Database;
  migrator: Migrator;
  hasher: PasswordHasher;
}

type Log = (message: string) => void;

/** Opens what the service and the CLI share: the database (with start-up retry), its migrator, the hasher. */
export async function openRuntime(
  config: Config,
  log: Log = () => {},
  /** `replicas`: route the service's lag-tolerant reads to DATABASE_REPLICA_URLS (the server; CLI commands read the primary). */
  options: { cursorSecret?: string; queryObservers?: QueryObserver[]; replicas?: boolean } = {},
): Promise<Runtime> {
  // Metrics and traces each watch queries when they are on; with neither, Kysely does not time queries at all.
  const observers = options.queryObservers ?? [];
  const onQuery: QueryObserver | undefined =
    observers.length === 0
      ? undefined
      : observers.length === 1
        ? observers[0]
        : (event) => {
            for (const observe of observers) observe(event);
          };
  const database = await openDatabase(config.databaseUrl, {
    ...(onQuery ? { onQuery } : {}),
    // List cursors are signed with a key every worker shares (derived from the token secret by the data layer).
    ...(options.cursorSecret ? { cursorSecret: options.cursorSecret } : {}),
    pool: { ...config.pool, queryTimeoutMs: config.queryTimeoutMs },
    connectAttempts: config.connectAttempts,
    ...(options.replicas && config.replicaUrls.length > 0
      ? { replicaUrls: config.replicaUrls, replicaMaxLagMs: config.replicaMaxLagMs, onReplicaChange: log }
      : {}),
    connectDelayMs: config.connectDelayMs,
    onConnectRetry: (attempt, delay, error) =>
      log(
        `database not reachable (attempt ${attempt}/${config.connectAttempts}: ${(error as Error).message}); retrying in ${delay} ms`,
      ),
  });
  try {
    const migrator = await Migrator.fromDirectory(database, MIGRATIONS_DIR);
    return { database, migrator, hasher: new PasswordHasher(config.passwordHash) };
  } catch (error) {
    await database.close();
    throw error;
  }
}

import { type Database, Migrator, openDatabase, typedQuery } from '@user-service/data';
import { requireUrl, type TestDatabase } from '@user-service/data/testing';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { PasswordHasher } from '../../src/auth/password-hasher.js';
import { SERVICE_TABLES } from '../../src/declared-tables.js';
import { MIGRATIONS_DIR } from '../../src/runtime.js';

/** The token (and cursor) secret of every test app. */
export const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret';

const LEAKED_HASH = /\$argon2(id|i|d)\$|\$2[aby]\$\d\d\$/;

/** Cheap argon2id parameters so tests do not spend seconds hashing; production defaults are tested separately. */
export const FAST_HASH = { memoryKib: 1024, iterations: 1, parallelism: 1, concurrency: 4 };

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  migrator: Migrator;
  hasher: PasswordHasher;
  close(): Promise<void>;
}

/** A migrated database of the given kind and the app built on it, as main.ts builds it. */
export async function openTestApp(tdb: TestDatabase, options: { bodyLimitBytes?: number } = {}): Promise<TestApp> {
  const database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
  const migrator = await Migrator.fromDirectory(database, MIGRATIONS_DIR);
  await migrator.up();
  const hasher = new PasswordHasher(FAST_HASH);
  const app = await buildApp({
    database,
    migrator,
    hasher,
    tokenSecret: TEST_TOKEN_SECRET,
    ...options,
  });
  // Every response of every API test passes this guard: a password hash in any body fails the test.
  app.addHook('onSend', async (request, _reply, payload) => {
    if (typeof payload === 'string' && LEAKED_HASH.test(payload)) {
      throw new Error(`password hash leaked in the response to ${request.method} ${request.url}`);
    }
    return payload;
  });
  return {
    app,
    database,
    migrator,
    hasher,
    close: async () => {
      await app.close();
      await database.close();
    },
  };
}

/** Deletes every user (and so every persona) between tests. */
export async function emptyTables(database: Database): Promise<void> {
  await typedQuery(database, SERVICE_TABLES, async (db) => {
    await db.deleteFrom('personas').execute();
    await db.deleteFrom('users').execute();
  });
}

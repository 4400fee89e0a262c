import {
  type Database,
  type DataStore,
  MemoryStore,
  Migrator,
  openDatabase,
  type QueryObserver,
} from '../../src/index.js';
import { requireUrl, type TestDatabase } from '../../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './fixture-tables.js';

/** A migrated store for the fixture tables, and a function that closes it. */
export async function openMigratedStore(
  db: TestDatabase,
): Promise<{ store: DataStore; database?: Database; close: () => Promise<void> }> {
  if (db.kind === 'memory') return { store: new MemoryStore(), close: async () => {} };
  const database = await openDatabase(requireUrl(db), { connectAttempts: 1 });
  await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
  return { store: database, database, close: () => database.close() };
}

/** A migrated SQL database whose authors table is empty, each statement it runs told to `onQuery`. */
export async function openWithoutAuthors(db: TestDatabase, onQuery: QueryObserver): Promise<Database> {
  const database = await openDatabase(requireUrl(db), { connectAttempts: 1, onQuery });
  await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
  const repo = database.repository(authors);
  for (const a of (await repo.list({ limit: 1000 })).items) await repo.delete(a.id);
  return database;
}

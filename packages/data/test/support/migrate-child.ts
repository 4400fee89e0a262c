// Run as a separate process by the tests: migrates the database given as argv[2] to head and prints what it applied.
import { Migrator, openDatabase } from '../../src/index.js';
import { FIXTURE_MIGRATIONS } from './fixture-tables.js';

const database = await openDatabase(process.argv[2] ?? '', { connectAttempts: 1, pool: { busyTimeoutMs: 30_000 } });
const applied = await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
process.stdout.write(JSON.stringify(applied));
await database.close();

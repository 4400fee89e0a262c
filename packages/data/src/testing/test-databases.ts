/**
 * Test support, exported as `@user-service/data/testing` so the service runs its API tests on the same list.
 * The list of databases every contract test runs on. Each test file gets its own fresh database (a temp
 * SQLite file, a new PostgreSQL database, a new MariaDB database), so files can run in parallel.
 * A server that cannot be reached is reported as a skipped suite; with CI=true it is a failing test instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServerDatabase, type ServerKind, serverReachable } from './server-databases.js';

export type TestDbKind = 'memory' | 'sqlite' | 'postgres' | 'mariadb';

const inCi = process.env.CI === 'true' || process.env.CI === '1';

export interface TestDatabase {
  kind: TestDbKind;
  /** A DATABASE_URL for a fresh, empty database of this kind (undefined for memory). */
  url: string | undefined;
}

/**
 * TEST_DATABASES (kinds, comma-separated): only those run, the others are reported as skipped suites. The full
 * run (npm test, CI) leaves it unset; CI's second Node.js pass (scripts/test-on-node.sh) sets it to sqlite.
 */
const onlyKinds = process.env.TEST_DATABASES?.split(',')
  .map((kind) => kind.trim())
  .filter(Boolean);
// A typo or a value inherited by CI's full run would otherwise skip databases that must run there.
if (onlyKinds) {
  const unknown = onlyKinds.filter((kind) => !['sqlite', 'postgres', 'mariadb'].includes(kind));
  if (unknown.length > 0) throw new Error(`TEST_DATABASES names unknown kinds: ${unknown.join(', ')}`);
  if (inCi && process.env.SECOND_NODE_PASS !== '1') {
    throw new Error(
      'TEST_DATABASES is set with CI=true: the full run must test every database (only the second pass may not)',
    );
  }
}

/**
 * Declares `suite` once per database kind, as `<title> on <kind>`. `kinds` defaults to every real database;
 * add 'memory' where the in-memory store is part of the contract.
 */
export function onEachDatabase(
  title: string,
  suite: (db: TestDatabase) => void,
  kinds: TestDbKind[] = ['sqlite', 'postgres', 'mariadb'],
): void {
  for (const kind of kinds) {
    if (kind !== 'memory' && onlyKinds && !onlyKinds.includes(kind)) {
      describe(`${title} on ${kind}`, { skip: `TEST_DATABASES=${onlyKinds.join(',')} leaves ${kind} out` }, () => {});
      continue;
    }
    if (kind === 'memory') {
      describe(`${title} on memory`, () => suite({ kind, url: undefined }));
      continue;
    }
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'us-test-'));
      describe(`${title} on sqlite`, () => {
        after(() => rmSync(dir, { recursive: true, force: true }));
        suite({ kind, url: `sqlite:///${join(dir, 'test.db')}` });
      });
      continue;
    }
    describeOnServer(title, kind, suite);
  }
}

// node:test needs to know at declaration time whether a suite is skipped, so reachability is probed first
// (top-level await in the test file's import of this module).
const SERVERS = ['postgres', 'mariadb'] as const;
const reachable = new Map(await Promise.all(SERVERS.map(async (kind) => [kind, await serverReachable(kind)] as const)));

function describeOnServer(title: string, kind: ServerKind, suite: (db: TestDatabase) => void): void {
  const status = reachable.get(kind);
  if (status !== true) {
    if (inCi) {
      it(`${title} on ${kind}`, () => {
        throw new Error(`${status}: CI=true requires every database to run`);
      });
    } else {
      describe(`${title} on ${kind}`, { skip: status }, () => {});
    }
    return;
  }
  // The database is created in `before`, but the suite's tests need its URL when they run; the URL object is
  // filled in place so the suite can read `db.url` lazily.
  const db: TestDatabase = { kind, url: undefined };
  describe(`${title} on ${kind}`, () => {
    let drop: (() => Promise<void>) | undefined;
    before(async () => {
      const created = await createServerDatabase(kind);
      db.url = created.url;
      drop = created.drop;
    });
    after(async () => {
      await drop?.();
    });
    suite(db);
  });
}

export function requireUrl(db: TestDatabase): string {
  if (!db.url) throw new Error(`no URL for ${db.kind}`);
  return db.url;
}

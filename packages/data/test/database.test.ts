import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type Database,
  DatabaseUnavailableError,
  DatabaseUrlError,
  Migrator,
  openDatabase,
  parseDatabaseUrl,
  redactUrl,
} from '../src/index.js';
import { TcpProxy } from '../src/testing/tcp-proxy.js';
import { onEachDatabase, requireUrl } from '../src/testing/test-databases.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./support/migrate-child.ts', import.meta.url));

describe('database URLs', () => {
  it('accepts the native and the SQLAlchemy spellings', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:///./data/app.db'), { kind: 'sqlite', filename: './data/app.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite+aiosqlite:///./database.db'), {
      kind: 'sqlite',
      filename: './database.db',
    });
    assert.deepEqual(parseDatabaseUrl('sqlite:////var/lib/app.db'), { kind: 'sqlite', filename: '/var/lib/app.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite::memory:'), { kind: 'sqlite', filename: ':memory:' });
    for (const scheme of ['postgres', 'postgresql', 'postgresql+asyncpg', 'postgresql+psycopg2']) {
      const p = parseDatabaseUrl(`${scheme}://u:p%40ss@db.local:6543/app?sslmode=disable`);
      assert.deepEqual(p, {
        kind: 'postgres',
        host: 'db.local',
        port: 6543,
        user: 'u',
        password: 'p@ss',
        database: 'app',
        params: { sslmode: 'disable' },
      });
    }
    for (const scheme of ['mysql', 'mariadb', 'mysql+aiomysql', 'mysql+pymysql']) {
      const p = parseDatabaseUrl(`${scheme}://root@127.0.0.1/test`);
      assert.equal(p.kind, 'mysql');
      assert.equal(p.kind === 'mysql' && p.port, 3306);
    }
  });

  it('rejects unknown schemes and malformed URLs, naming the accepted forms', () => {
    for (const bad of [
      'oracle://x/y',
      'nonsense',
      'postgres://',
      'postgres://host',
      'mysql://h/a/b',
      'sqlite://relative.db',
    ]) {
      assert.throws(
        () => parseDatabaseUrl(bad),
        (e: unknown) => e instanceof DatabaseUrlError && /Accepted forms/.test(e.message),
        bad,
      );
    }
    assert.throws(() => parseDatabaseUrl('mssql://sa:pw@h/db'), /SQL Server .* not tested/);
  });

  it('hides the password in displayed URLs', () => {
    assert.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
    assert.equal(redactUrl('sqlite:///./data/app.db'), 'sqlite:///./data/app.db');
  });
});

describe('connecting', () => {
  it('retries with backoff at start-up, then fails with DatabaseUnavailableError', async () => {
    const retries: number[] = [];
    const started = Date.now();
    await assert.rejects(
      openDatabase('postgres://nobody@127.0.0.1:1/none', {
        connectAttempts: 3,
        connectDelayMs: 20,
        onConnectRetry: (_attempt, delay) => retries.push(delay),
      }),
      (e: unknown) => e instanceof DatabaseUnavailableError && /after 3 attempt/.test(e.message),
    );
    assert.deepEqual(retries, [20, 40]);
    assert.ok(Date.now() - started >= 60);
  });
});

onEachDatabase(
  'outage and recovery',
  (tdb) => {
    let database: Database;
    let proxy: TcpProxy;
    before(async () => {
      const url = new URL(requireUrl(tdb));
      proxy = new TcpProxy(url.hostname, Number(url.port || (tdb.kind === 'postgres' ? 5432 : 3306)));
      url.port = String(await proxy.start());
      database = await openDatabase(url.toString(), { connectAttempts: 1, pool: { acquireTimeoutMs: 1000 } });
      await (await Migrator.fromDirectory(database, FIXTURE_MIGRATIONS)).up();
    });
    after(async () => {
      await database.close().catch(() => {});
      await proxy.cut().catch(() => {});
    });

    it('surfaces a lost server as DatabaseUnavailableError and recovers by itself when it is back', async () => {
      const repo = database.repository(authors);
      await repo.create({ email: 'before@x.io' });
      await proxy.cut();
      await assert.rejects(repo.count(), DatabaseUnavailableError);
      await assert.rejects(repo.create({ email: 'during@x.io' }), DatabaseUnavailableError);
      await assert.rejects(database.ping(), DatabaseUnavailableError);
      await proxy.restore();
      // The first query after the cut may still meet a dead pooled connection; the pool then replaces it.
      let count: number | undefined;
      for (let i = 0; i < 5 && count === undefined; i++) {
        count = await repo.count().catch((e: unknown) => {
          assert.ok(e instanceof DatabaseUnavailableError, String(e));
          return undefined;
        });
      }
      assert.equal(count, 1);
      await database.ping();
    });
  },
  ['postgres', 'mariadb'],
);

onEachDatabase('migrating from two processes at once', (tdb) => {
  it('applies each migration once: one process applies, the other finds nothing to do', async () => {
    const url = requireUrl(tdb);
    const outputs = await Promise.all(
      [1, 2].map(() =>
        run(process.execPath, ['--import', 'tsx', CHILD, url]).then((r) => JSON.parse(r.stdout) as string[]),
      ),
    );
    const all = outputs.flat().sort();
    assert.deepEqual(all, ['20260101000000_create_authors', '20260101000100_create_books']);
    assert.ok(
      outputs.some((o) => o.length === 0),
      `one process had nothing to do: ${JSON.stringify(outputs)}`,
    );
  });
});

/**
 * The default database is one file whatever the working directory: the service package's data/app.db. Before,
 * `npx user-service` from the repository root resolved `./data/app.db` against the root, a different database
 * from the one `npm start` (which runs in the package folder) serves.
 *
 * So as not to touch the real data/app.db, the test runs a copy of the package (package.json, bin, src,
 * migrations, with node_modules linked) in a temporary folder, through its bin/user-service.js as npx would.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@user-service/data';

const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));
const ROOT_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the default database (no DATABASE_URL)', () => {
  let dir: string;
  let pkg: string;
  let elsewhere: string;

  /** Runs the copied package's `user-service <args>` in `cwd`, without DATABASE_URL. */
  function cli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    const { NODE_TEST_CONTEXT: _test, DATABASE_URL: _url, ...inherited } = process.env;
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(pkg, 'bin', 'user-service.js'), ...args],
        { cwd, env: { ...inherited, ...env } },
        (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
        },
      );
    });
  }

  before(() => {
    // realpath: on macOS the temporary folder is reached through a symlink, and the CLI prints real paths.
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'us-default-db-')));
    pkg = join(dir, 'services', 'user-service');
    mkdirSync(pkg, { recursive: true });
    for (const part of ['package.json', 'bin', 'src', 'migrations']) {
      cpSync(join(SERVICE_DIR, part), join(pkg, part), { recursive: true });
    }
    symlinkSync(ROOT_NODE_MODULES, join(dir, 'node_modules'), 'dir');
    elsewhere = join(dir, 'somewhere', 'else');
    mkdirSync(elsewhere, { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is the package data/app.db from the package folder, the repository root and anywhere else', async () => {
    const file = join(pkg, 'data', 'app.db');
    const banner = new RegExp(`^database: sqlite:///${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');

    // As `npm start` and `npm run cli` run: in the package folder.
    const migrated = await cli(pkg, ['migrate', 'up']);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout + migrated.stderr, banner);

    // As `npx user-service` from the repository root.
    const created = await cli(dir, ['create-user', '--email', 'root@example.com'], {
      USER_PASSWORD: 'root-password-1',
    });
    assert.equal(created.code, 0, created.stderr);

    // And from any other folder: the same migrated database, holding the user created from the root.
    const current = await cli(elsewhere, ['migrate', 'current']);
    assert.equal(current.code, 0, current.stderr);
    assert.match(current.stdout + current.stderr, banner);
    assert.match(current.stdout, /\(head\)/);
    const other = await cli(elsewhere, ['create-user', '--email', 'elsewhere@example.com', '--verified'], {
      USER_PASSWORD: 'elsewhere-password-1',
    });
    assert.equal(other.code, 0, other.stderr);
    assert.equal(JSON.parse(other.stdout).is_verified, true, '--verified marks the address verified');
    assert.equal(JSON.parse(created.stdout).is_verified, false);
    assert.match(created.stderr, /verification mail to root@example\.com queued/);

    const database = await openDatabase(`sqlite:///${file}`, { connectAttempts: 1 });
    try {
      const users = await database.kysely.selectFrom('users').select('email').orderBy('email').execute();
      assert.deepEqual(
        users.map((u) => u.email),
        ['elsewhere@example.com', 'root@example.com'],
      );
      // The CLI goes through the same door as the API: the unverified user's mail waits in the outbox for the
      // service; the verified one gets none.
      const mails = await database.kysely.selectFrom('outbox').select(['to_address', 'template', 'status']).execute();
      assert.deepEqual(mails, [{ to_address: 'root@example.com', template: 'verify-email', status: 'pending' }]);
    } finally {
      await database.close();
    }
    // No stray database where the commands ran.
    assert.equal(existsSync(join(dir, 'data')), false);
    assert.equal(existsSync(join(elsewhere, 'data')), false);
  });

  it('keeps an explicit relative DATABASE_URL relative to the working directory, as SQLAlchemy does', async () => {
    const result = await cli(elsewhere, ['migrate', 'up'], { DATABASE_URL: 'sqlite:///./own.db' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(existsSync(join(elsewhere, 'own.db')), true);
    assert.equal(existsSync(join(pkg, 'own.db')), false);
  });
});

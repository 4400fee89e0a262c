/**
 * The service's table definitions are its declared schema: on a database migrated to head, autogenerate finds
 * nothing and `migrate check` is clean, on every database. A declaration that drifts from the migrations
 * (or a migration that is not declared) fails here. The generate/apply/revert cycle itself is tested in the
 * data package (test/autogenerate.test.ts) on fixture tables.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { cli } from './support/cli.js';

onEachDatabase('migrate new --autogenerate on the service tables', (db) => {
  it('finds nothing to generate at head, writes no file, and check is clean', async () => {
    const files = readdirSync(MIGRATIONS_DIR).sort();
    assert.equal((await cli(db, ['migrate', 'up'])).code, 0);
    const generated = await cli(db, ['migrate', 'new', '--autogenerate', '-m', 'should be empty']);
    assert.equal(generated.code, 0, generated.stderr);
    assert.match(generated.stdout, /nothing to generate/);
    assert.deepEqual(readdirSync(MIGRATIONS_DIR).sort(), files, 'no migration file written');
    const check = await cli(db, ['migrate', 'check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /ok: schema is at head and matches the migrations and the table definitions/);
  });

  it('reports the missing tables as declared drift at base', async () => {
    assert.equal((await cli(db, ['migrate', 'down', 'base'])).code, 0);
    const check = await cli(db, ['migrate', 'check']);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /drift: {3}declared: table users is declared but missing in the database/);
    assert.match(check.stdout, /drift: {3}declared: table personas is declared but missing in the database/);
  });
});

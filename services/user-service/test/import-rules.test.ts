/**
 * One rule per field, whichever way a user comes in: a record `user-service import` reads is refused for
 * exactly the rule a POST /api/v1/users body is refused for, with the same message, because both run the
 * API's own schemas through the same validator. Run as the real command, on every database.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { onEachDatabase } from '@user-service/data/testing';
import { UserRepository } from '../src/users/user.repository.js';
import { cli } from './support/cli.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const _SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));

// Each breaks one rule of the API's UserCreate / PersonaCreate, and nothing else.
const BREACHES: Record<string, unknown>[] = [
  { email: 'not-an-email' },
  { email: 'short@example.com', username: 'ab' },
  { email: 'spaces@example.com', username: 'has space' },
  { email: 'long@example.com', full_name: 'x'.repeat(256) },
  { email: 'nul@example.com', full_name: 'Ada\u0000Lovelace' },
  { email: 'typed@example.com', full_name: 42 },
  { email: 'persona@example.com', personas: [{ name: 'n'.repeat(129), relation_type: 'friend' }] },
  { email: 'relation@example.com', personas: [{ name: 'Work' }] },
];

/** "personas[0].name: <msg>": the API's loc (without "body") and msg, as the import names them. */
function asImportMessage(detail: { loc: (string | number)[]; msg: string }): string {
  let path = '';
  for (const part of detail.loc.slice(1)) path += typeof part === 'number' ? `[${part}]` : `${path ? '.' : ''}${part}`;
  return `${path}: ${detail.msg}`;
}

onEachDatabase('import refuses what the API refuses, with the API message', (db) => {
  let t: TestApp;
  let dir: string;
  before(async () => {
    t = await openTestApp(db);
    dir = mkdtempSync(join(tmpdir(), 'us-import-rules-'));
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses each record that breaks a field rule with the message POST /users gives, and imports the rest', async () => {
    const expected: string[] = [];
    for (const fields of BREACHES) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        payload: { password: 'password-1', ...fields },
      });
      assert.equal(res.statusCode, 422, `the API refuses ${JSON.stringify(fields).slice(0, 80)}`);
      const detail = res.json().detail as { loc: (string | number)[]; msg: string }[];
      assert.equal(detail.length, 1, res.body);
      expected.push(asImportMessage(detail[0]!));
    }

    const hash = await t.hasher.hash('password-1');
    const file = join(dir, 'users.ndjson');
    const rows = [...BREACHES, { email: 'fine@example.com', username: 'Fine.User' }];
    writeFileSync(file, rows.map((row) => JSON.stringify({ ...row, hashed_password: hash })).join('\n'));
    const report = join(dir, 'errors.ndjson');
    const { code } = await cli(db, ['import', file, '--errors', report]);
    assert.equal(code, 1, 'rows failed');
    const errors = readFileSync(report, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { line: number; error: string });
    assert.deepEqual(
      errors.map((e) => [e.line, e.error]),
      expected.map((message, i) => [i + 1, message]),
    );

    const users = new UserRepository(t.database);
    assert.equal(await users.count(), 1, 'only the valid record was written');
    assert.equal(
      (await users.getBy({ username: 'fine.user' }))?.email,
      'fine@example.com',
      'normalised as the API does',
    );
  });
});

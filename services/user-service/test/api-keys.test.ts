/**
 * ApiKeyService on each database: secrets shown once and stored only as a SHA-256 hash, authentication of live
 * keys only (malformed ones without touching the database), revocation, expiry, the throttled last_used_at,
 * the input rules, and the table as declared (api-key.table.ts) matching its migration.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, it } from 'node:test';
import { compareDeclared, type Database, type DataStore, Migrator, openDatabase } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import {
  API_KEY_SECRET_LENGTH,
  ApiKeyService,
  LAST_USED_INTERVAL_MS,
  type NewApiKeyInput,
} from '../src/api-keys/api-key.service.js';
import { apiKeysTable } from '../src/api-keys/api-key.table.js';
import { InvalidInputError, NotFoundError } from '../src/errors.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { UserRepository } from '../src/users/user.repository.js';
import { usersTable } from '../src/users/user.table.js';

/** A clock the test moves by hand. */
function manualClock(start = Date.now()) {
  let ms = start;
  return {
    now: () => new Date(ms),
    advance: (by: number) => {
      ms += by;
    },
  };
}

const READ_ONLY: NewApiKeyInput = { name: 'reporting', scopes: ['users:read', 'personas:read'] };

/** A store that fails on any use: proves a code path does no database work. */
const NO_DATABASE: DataStore = {
  repository: () => {
    throw new Error('the database was used');
  },
  unitOfWork: () => {
    throw new Error('the database was used');
  },
};

onEachDatabase('API keys', (tdb) => {
  let database: Database;

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, MIGRATIONS_DIR)).up();
  });
  after(() => database.close());

  const rawRow = (id: string) =>
    database.query((db) => db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow());

  it('declares api_keys as its migration creates it', async () => {
    const diff = await compareDeclared(database, [usersTable, apiKeysTable]);
    const mine = [...diff.messages, ...diff.unsupported].filter((m) => m.includes('api_keys'));
    assert.deepEqual(mine, []);
  });

  it('shows a usk_ secret once and stores only its SHA-256 hash', async () => {
    const service = new ApiKeyService(database);
    const created = await service.create({ name: '  billing  ', scopes: ['users:write', 'users:read'] }, null);
    assert.match(created.secret, /^usk_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.secret.length, API_KEY_SECRET_LENGTH);
    assert.equal(created.prefix, created.secret.slice(0, 12));
    assert.equal(created.name, 'billing');
    assert.deepEqual(created.scopes, ['users:read', 'users:write']);
    assert.equal(created.created_by, null);
    assert.equal(created.expires_at, null);
    assert.equal(created.last_used_at, null);
    assert.equal(created.revoked_at, null);
    assert.ok(!('key_hash' in created));

    const row = await rawRow(created.id);
    assert.equal(row.key_hash, createHash('sha256').update(created.secret).digest('hex'));
    const stored = JSON.stringify(row);
    assert.ok(!stored.includes(created.secret), 'the secret is stored');
    assert.ok(!stored.includes(created.secret.slice(12)), 'the secret past its prefix is stored');

    const again = await service.create(READ_ONLY, null);
    assert.notEqual(again.secret, created.secret);
  });

  it('authenticates the right secret, and nothing else', async () => {
    const service = new ApiKeyService(database);
    const created = await service.create(READ_ONLY, null);
    assert.deepEqual(await service.authenticate(created.secret), {
      id: created.id,
      name: 'reporting',
      scopes: ['users:read', 'personas:read'],
    });

    const body = created.secret.slice(4);
    const flipped = `usk_${body.slice(0, -1)}${body.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(await service.authenticate(flipped), undefined, 'wrong secret');
    assert.equal(await service.authenticate(`abc_${body}`), undefined, 'other prefix');
    assert.equal(await service.authenticate(`${created.secret}x`), undefined, 'too long');
    assert.equal(await service.authenticate(created.secret.slice(0, -1)), undefined, 'too short');
    assert.equal(await service.authenticate(`Bearer ${created.secret}`), undefined, 'with a scheme');
    await service.settled();
  });

  it('refuses a malformed secret without asking the database', async () => {
    const offline = new ApiKeyService(NO_DATABASE);
    for (const secret of [
      '',
      'usk_',
      'usk_short',
      `abc_${'A'.repeat(43)}`,
      `usk_${'A'.repeat(42)}=`,
      `usk_${'A'.repeat(44)}`,
    ]) {
      assert.equal(await offline.authenticate(secret), undefined, secret);
    }
    await assert.rejects(offline.authenticate(`usk_${'A'.repeat(43)}`), /the database was used/);
  });

  it('refuses a revoked key; revoking again keeps the first time; an unknown key is 404', async () => {
    const clock = manualClock();
    const service = new ApiKeyService(database, { now: clock.now });
    const created = await service.create(READ_ONLY, null);
    assert.ok(await service.authenticate(created.secret));
    const revoked = await service.revoke(created.id);
    assert.equal(revoked.revoked_at, clock.now().toISOString());
    assert.equal(await service.authenticate(created.secret), undefined);
    // Another process (another service instance) refuses it too: nothing is cached.
    assert.equal(await new ApiKeyService(database).authenticate(created.secret), undefined);

    clock.advance(5_000);
    const again = await service.revoke(created.id);
    assert.equal(again.revoked_at, revoked.revoked_at);
    await assert.rejects(service.revoke('01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a'), NotFoundError);
    await assert.rejects(service.get('01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a'), NotFoundError);
    await service.settled();
  });

  it('refuses an expired key', async () => {
    const clock = manualClock();
    const service = new ApiKeyService(database, { now: clock.now });
    const expires = new Date(clock.now().getTime() + 3_600_000);
    const created = await service.create({ ...READ_ONLY, expires_at: expires.toISOString() }, null);
    assert.equal(created.expires_at, expires.toISOString());
    clock.advance(3_599_000);
    assert.ok(await service.authenticate(created.secret));
    clock.advance(1_000);
    assert.equal(await service.authenticate(created.secret), undefined, 'at the expiry');
    clock.advance(86_400_000);
    assert.equal(await service.authenticate(created.secret), undefined, 'after it');
    await service.settled();
  });

  it('records last_used_at on first use, then at most once a minute', async () => {
    const clock = manualClock();
    const service = new ApiKeyService(database, { now: clock.now });
    const created = await service.create(READ_ONLY, null);
    clock.advance(1_000);
    const firstUse = clock.now().toISOString();
    await service.authenticate(created.secret);
    await service.settled();
    assert.equal((await service.get(created.id)).last_used_at, firstUse);

    clock.advance(LAST_USED_INTERVAL_MS - 1_000);
    await service.authenticate(created.secret);
    await service.settled();
    assert.equal((await service.get(created.id)).last_used_at, firstUse, 'rewritten within a minute');
    // Nor by another process that has not recorded anything itself: the stored time counts too.
    const other = new ApiKeyService(database, { now: clock.now });
    await other.authenticate(created.secret);
    await other.settled();
    assert.equal((await service.get(created.id)).last_used_at, firstUse, 'rewritten by another process');

    clock.advance(1_000);
    const later = clock.now().toISOString();
    await service.authenticate(created.secret);
    await service.settled();
    assert.equal((await service.get(created.id)).last_used_at, later, 'a minute later');
  });

  it('does not fail or wait on the last_used_at write', async () => {
    const service = new ApiKeyService(database);
    const created = await service.create(READ_ONLY, null);
    // The lookup succeeds, the write fails: authentication still answers, and the failure is swallowed.
    const failingWrites: DataStore = {
      repository: (table) => {
        const repo = database.repository(table);
        const fail = () => Promise.reject(new Error('write failed'));
        return new Proxy(repo, { get: (target, key) => (key === 'updateWhere' ? fail : Reflect.get(target, key)) });
      },
      unitOfWork: (work) => database.unitOfWork(work),
    };
    const flaky = new ApiKeyService(failingWrites);
    assert.equal((await flaky.authenticate(created.secret))?.id, created.id);
    await flaky.settled();
    assert.equal((await service.get(created.id)).last_used_at, null);
  });

  it('refuses invalid input with 422-shaped errors naming the field', async () => {
    const clock = manualClock();
    const service = new ApiKeyService(database, { now: clock.now });
    const cases: [NewApiKeyInput, (string | number)[]][] = [
      [{ name: '   ', scopes: ['users:read'] }, ['body', 'name']],
      [{ name: 'x'.repeat(101), scopes: ['users:read'] }, ['body', 'name']],
      [{ name: 'ok', scopes: [] }, ['body', 'scopes']],
      [{ name: 'ok', scopes: ['users:read', 'admin'] }, ['body', 'scopes', 1]],
      [{ name: 'ok', scopes: ['users:read', 'users:read'] }, ['body', 'scopes', 1]],
      [{ name: 'ok', scopes: ['users:read'], expires_at: clock.now().toISOString() }, ['body', 'expires_at']],
      [{ name: 'ok', scopes: ['users:read'], expires_at: '2001-01-01T00:00:00Z' }, ['body', 'expires_at']],
      [{ name: 'ok', scopes: ['users:read'], expires_at: 'tomorrow' }, ['body', 'expires_at']],
    ];
    for (const [input, loc] of cases) {
      await assert.rejects(service.create(input, null), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError, String(error));
        assert.deepEqual(error.loc, loc);
        return true;
      });
    }
    const longest = await service.create({ name: ` ${'x'.repeat(100)} `, scopes: ['personas:write'] }, null);
    assert.equal(longest.name.length, 100);
  });

  it('lists every key newest first, revoked ones included, never a secret or a hash', async () => {
    const clock = manualClock();
    const service = new ApiKeyService(database, { now: clock.now });
    const created = [];
    for (const name of ['first', 'second', 'third']) {
      created.push(await service.create({ name, scopes: ['users:read'] }, null));
      clock.advance(1_000);
    }
    await service.revoke(created[1]!.id);
    const ids = new Set(created.map((k) => k.id));
    const listed = (await service.list()).filter((k) => ids.has(k.id));
    assert.deepEqual(
      listed.map((k) => k.name),
      ['third', 'second', 'first'],
    );
    assert.ok(listed[1]!.revoked_at);
    assert.equal(listed[0]!.revoked_at, null);
    const text = JSON.stringify(await service.list());
    assert.ok(!text.includes('key_hash'));
    assert.ok(!text.includes('secret'));
    for (const key of created) assert.ok(!text.includes(key.secret));
    const one = await service.get(created[0]!.id);
    assert.ok(!('key_hash' in one) && !('secret' in one));
  });

  it('keeps a key when its creator is deleted, forgetting who created it', async () => {
    const users = new UserRepository(database);
    const user = await users.create({ email: `creator-${Date.now()}@example.com`, hashed_password: 'x' });
    const service = new ApiKeyService(database);
    const created = await service.create(READ_ONLY, user.id);
    assert.equal(created.created_by, user.id);
    assert.ok(await users.delete(user.id));
    const key = await service.get(created.id);
    assert.equal(key.created_by, null);
    assert.ok(await service.authenticate(created.secret));
    await service.settled();
  });
});

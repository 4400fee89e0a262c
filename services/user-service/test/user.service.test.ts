// Unit tests of the service rules on the in-memory store (no database): normalisation, conflicts, the
// all-or-nothing create, and that hashes never leave the service.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { MemoryStore } from '@user-service/data';
import { PasswordHasher } from '../src/auth/password-hasher.js';
import { ConflictError, NotFoundError } from '../src/errors.js';
import { personasTable } from '../src/personas/persona.table.js';
import { UserService } from '../src/users/user.service.js';
import { FAST_HASH } from './support/test-app.js';

describe('UserService (in memory)', () => {
  let store: MemoryStore;
  let users: UserService;
  beforeEach(() => {
    store = new MemoryStore();
    users = new UserService(store, new PasswordHasher(FAST_HASH));
  });

  it('normalises email and username, hashes the password, and returns no hash', async () => {
    const user = await users.create({ email: 'Ada@Example.com', password: 'password-1', username: 'Ada_L' });
    assert.equal(user.email, 'ada@example.com');
    assert.equal(user.username, 'ada_l');
    assert.ok(!('hashed_password' in user));
    assert.deepEqual(await users.getByEmail('ADA@example.COM'), user);
    assert.deepEqual(await users.getByUsername('ADA_l'), user);
  });

  it('turns unique violations into conflicts that name the field', async () => {
    await users.create({ email: 'a@example.com', password: 'password-1', username: 'alpha' });
    await assert.rejects(
      users.create({ email: 'A@example.com', password: 'password-1' }),
      (e: unknown) => e instanceof ConflictError && /email/.test(e.message),
    );
    await assert.rejects(
      users.create({ email: 'b@example.com', password: 'password-1', username: 'ALPHA' }),
      (e: unknown) => e instanceof ConflictError && /username/.test(e.message),
    );
  });

  it('creates the user and its personas together, or neither', async () => {
    await assert.rejects(
      users.create({
        email: 'p@example.com',
        password: 'password-1',
        personas: [
          { name: 'Same', relation_type: 'x' },
          { name: 'Same', relation_type: 'y' },
        ],
      }),
      ConflictError,
    );
    await assert.rejects(users.getByEmail('p@example.com'), NotFoundError);
    assert.equal(await store.repository(personasTable).count(), 0);
  });

  it('answers NotFound for missing users on every operation', async () => {
    const missing = '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a';
    await assert.rejects(users.get(missing), NotFoundError);
    await assert.rejects(users.update(missing, { full_name: 'x' }), NotFoundError);
    await assert.rejects(users.setActive(missing, false), NotFoundError);
    await assert.rejects(users.delete(missing), NotFoundError);
    assert.equal(await users.exists(missing), false);
  });

  it('lists with filters and search', async () => {
    await users.create({ email: 'grace@navy.mil', password: 'password-1', full_name: 'Grace Hopper' });
    const b = await users.create({ email: 'b@example.com', password: 'password-1' });
    await users.setActive(b.id, false);
    assert.equal((await users.list({ skip: 0, limit: 10, activeOnly: true })).total, 1);
    assert.equal((await users.list({ skip: 0, limit: 10 })).total, 2);
    assert.deepEqual(
      (await users.search('HOPP', 0, 10)).users.map((u) => u.email),
      ['grace@navy.mil'],
    );
  });
});

/**
 * Login protection (LoginGuard) on every database: failures are rows, so 50 parallel failures count 50; the
 * account lock and the IP limit, their expiry (the guard's clock is injected and moved by hand), the reset on
 * success, Retry-After, pruning; and the same through AuthService (the right password is refused while
 * locked; an unknown user is counted and answered as a wrong password).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { type Database, Migrator, openDatabase } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import { AuthService } from '../src/auth/auth.service.js';
import { LoginFailureRepository } from '../src/auth/login-failure.repository.js';
import { LoginGuard, PRUNE_INTERVAL_MS } from '../src/auth/login-guard.js';
import { PasswordHasher } from '../src/auth/password-hasher.js';
import type { LoginLimits } from '../src/config.js';
import { TooManyRequestsError, UnauthorizedError } from '../src/errors.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { UserService } from '../src/users/user.service.js';

const DEFAULTS: LoginLimits = { accountMaxFailures: 10, ipMaxFailures: 100, windowMinutes: 15 };
const MINUTE = 60_000;
const EPOCH = Date.parse('2026-11-24T10:00:00.000Z');

/** A clock the test moves. */
function clock(start = EPOCH) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => {
      t = ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** Fresh subjects per test, so tests never see each other's rows. */
const account = () => randomUUID();
const ip = () => `2001:db8::${randomUUID().slice(0, 4)}:${randomUUID().slice(0, 4)}`;

/** The TooManyRequestsError `fn` rejects with (fails when it resolves or rejects otherwise). */
async function refused(fn: () => Promise<unknown>): Promise<TooManyRequestsError> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof TooManyRequestsError, `expected TooManyRequestsError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the attempt to be refused with TooManyRequestsError');
}

onEachDatabase('login guard', (tdb) => {
  let database: Database;
  let failures: LoginFailureRepository;
  const countOf = (kind: 'account' | 'ip', subject: string) =>
    failures.countSince(kind, subject, new Date(0).toISOString());

  before(async () => {
    database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
    await (await Migrator.fromDirectory(database, MIGRATIONS_DIR)).up();
    failures = new LoginFailureRepository(database);
  });
  after(() => database.close());

  it('counts 50 parallel failures as 50 and locks the account', async () => {
    const t = clock();
    const guard = new LoginGuard(database, DEFAULTS, t.now);
    const [a, client] = [account(), ip()];
    await Promise.all(Array.from({ length: 50 }, () => guard.recordFailure(a, client)));
    assert.equal(await countOf('account', a), 50);
    assert.equal(await countOf('ip', client), 50);
    const error = await refused(() => guard.assertAllowed(a, ip()));
    assert.equal(error.retryAfterSeconds, 15 * 60);
  });

  it('lets an account below the limit in, and locks it at the limit', async () => {
    const t = clock();
    const guard = new LoginGuard(database, DEFAULTS, t.now);
    const [a, client] = [account(), ip()];
    for (let i = 0; i < 9; i++) {
      await guard.recordFailure(a, client);
      t.advance(1000);
    }
    await guard.assertAllowed(a, client);
    await guard.recordFailure(a, client);
    await refused(() => guard.assertAllowed(a, client));
    // Another account from the same IP is not affected by this account's lock.
    await guard.assertAllowed(account(), client);
  });

  it('locks for the window counted from the failure that reached the limit, then lets in', async () => {
    const t = clock();
    const guard = new LoginGuard(database, DEFAULTS, t.now);
    const a = account();
    // Ten failures a minute apart: the tenth, at +9 min, reaches the limit; the lock ends at +24 min.
    for (let i = 0; i < 10; i++) {
      t.set(EPOCH + i * MINUTE);
      await guard.recordFailure(a, ip());
    }
    assert.equal((await refused(() => guard.assertAllowed(a, ip()))).retryAfterSeconds, 15 * 60);
    t.set(EPOCH + 23 * MINUTE);
    assert.equal((await refused(() => guard.assertAllowed(a, ip()))).retryAfterSeconds, 60);
    t.set(EPOCH + 24 * MINUTE - 1);
    assert.equal((await refused(() => guard.assertAllowed(a, ip()))).retryAfterSeconds, 1);
    t.set(EPOCH + 24 * MINUTE);
    await guard.assertAllowed(a, ip());
  });

  it('counts only failures within one window of each other (milliseconds compare exactly)', async () => {
    const t = clock();
    const guard = new LoginGuard(database, DEFAULTS, t.now);
    const [a, b] = [account(), account()];
    for (let i = 0; i < 9; i++) {
      await guard.recordFailure(a, ip());
      await guard.recordFailure(b, ip());
    }
    // a's tenth failure exactly one window after the first nine: they have left it, no lock.
    t.set(EPOCH + 15 * MINUTE);
    await guard.recordFailure(a, ip());
    await guard.assertAllowed(a, ip());
    // b's tenth failure one millisecond earlier: ten within one window, locked for the window after it.
    t.set(EPOCH + 15 * MINUTE - 1);
    await guard.recordFailure(b, ip());
    assert.equal((await refused(() => guard.assertAllowed(b, ip()))).retryAfterSeconds, 15 * 60);
    t.set(EPOCH + 30 * MINUTE - 2);
    assert.equal((await refused(() => guard.assertAllowed(b, ip()))).retryAfterSeconds, 1);
    t.set(EPOCH + 30 * MINUTE - 1);
    await guard.assertAllowed(b, ip());
  });

  it('a success resets the account counter but not the IP counter', async () => {
    const t = clock();
    const limits: LoginLimits = { accountMaxFailures: 3, ipMaxFailures: 5, windowMinutes: 15 };
    const guard = new LoginGuard(database, limits, t.now);
    const [a, client] = [account(), ip()];
    for (let i = 0; i < 3; i++) await guard.recordFailure(a, client);
    await refused(() => guard.assertAllowed(a, ip()));
    await guard.recordSuccess(a);
    assert.equal(await countOf('account', a), 0);
    assert.equal(await countOf('ip', client), 3);
    await guard.assertAllowed(a, ip());
    // The IP's three failures still count: two more (for any account) reach its limit of five.
    await guard.recordFailure(account(), client);
    await guard.assertAllowed(account(), client);
    await guard.recordFailure(account(), client);
    await refused(() => guard.assertAllowed(a, client));
  });

  it('refuses an IP with ipMaxFailures failures in the window, whatever the account', async () => {
    const t = clock();
    const limits: LoginLimits = { accountMaxFailures: 10, ipMaxFailures: 5, windowMinutes: 15 };
    const guard = new LoginGuard(database, limits, t.now);
    const client = ip();
    for (let i = 0; i < 4; i++) await guard.recordFailure(account(), client);
    await guard.assertAllowed(account(), client);
    t.advance(2 * MINUTE);
    await guard.recordFailure(account(), client);
    const error = await refused(() => guard.assertAllowed(account(), client));
    // The fifth failure, at +2 min, reached the limit: refused for the window after it.
    assert.equal(error.retryAfterSeconds, 15 * 60);
    assert.match(error.message, /^Too many failed login attempts; try again in 900 seconds$/);
    // Other IPs are not affected; the IP is let in again once the window after that failure has passed.
    await guard.assertAllowed(account(), ip());
    t.set(EPOCH + 17 * MINUTE - 1000);
    assert.equal((await refused(() => guard.assertAllowed(account(), client))).retryAfterSeconds, 1);
    t.set(EPOCH + 17 * MINUTE);
    await guard.assertAllowed(account(), client);
  });

  it('Retry-After is the longer of the account lock and the IP refusal', async () => {
    const t = clock();
    const limits: LoginLimits = { accountMaxFailures: 2, ipMaxFailures: 2, windowMinutes: 10 };
    const guard = new LoginGuard(database, limits, t.now);
    const [a, client] = [account(), ip()];
    await guard.recordFailure(a, ip());
    await guard.recordFailure(a, client);
    t.advance(3 * MINUTE);
    await guard.recordFailure(account(), client);
    t.advance(30_500);
    // Account: second failure at EPOCH, ends at EPOCH + 10 min. IP: second failure at +3 min, ends at +13 min.
    const error = await refused(() => guard.assertAllowed(a, client));
    assert.equal(error.retryAfterSeconds, Math.ceil((13 * MINUTE - 3 * MINUTE - 30_500) / 1000));
  });

  it('prunes failures older than two windows, at most once per interval', async () => {
    const start = EPOCH + 1000 * MINUTE;
    const t = clock(start);
    const guard = new LoginGuard(database, DEFAULTS, t.now);
    const [old, mid, recent] = [account(), account(), account()];
    // The first failure prunes (lastPrune = start).
    await guard.recordFailure(old, ip());
    await guard.recordFailure(old, ip());
    t.set(start + 10 * MINUTE);
    await guard.recordFailure(recent, ip());
    assert.equal(await countOf('account', old), 2);
    // Two windows and a minute later: `old` goes, `recent` (20 min old) stays.
    t.set(start + 31 * MINUTE);
    await guard.recordFailure(recent, ip());
    assert.equal(await countOf('account', old), 0);
    assert.equal(await countOf('account', recent), 2);
    // A row recorded (clock set back) at +61 s is prunable from +31.5 min, but the last prune was at +31 min:
    // not before +32 min.
    t.set(start + 61_000);
    await guard.recordFailure(mid, ip());
    t.set(start + 31 * MINUTE + 30_000);
    await guard.recordFailure(recent, ip());
    assert.equal(await countOf('account', mid), 1);
    t.set(start + 31 * MINUTE + PRUNE_INTERVAL_MS);
    await guard.recordFailure(recent, ip());
    assert.equal(await countOf('account', mid), 0);
    assert.equal(await countOf('account', recent), 4);
    assert.equal(await guard.prune(), 0);
  });

  it('through AuthService: the right password is refused while locked; an unknown user is answered alike', async () => {
    const hasher = new PasswordHasher({ memoryKib: 1024, iterations: 1, parallelism: 1, concurrency: 4 });
    const users = new UserService(database, hasher);
    const t = clock(Date.now());
    const guard = new LoginGuard(database, DEFAULTS, t.now);
    const auth = new AuthService(users, hasher, guard, database);
    const email = `lock-${randomUUID()}@example.com`;
    const password = 'Tr0ub4dor&3-unlisted';
    const user = await users.create({ email, password, username: `lock${randomUUID().slice(0, 8)}` });

    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, () => auth.authenticate(email, 'wrong password here', '198.51.100.7')),
    );
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(
        outcome.reason instanceof UnauthorizedError || outcome.reason instanceof TooManyRequestsError,
        String(outcome.reason),
      );
    }
    const wrong = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof UnauthorizedError).length;
    assert.equal(await countOf('account', user.id), wrong);
    assert.ok(wrong >= 10, `${wrong} failures counted`);
    // Right password, another IP, any spelling of the login: refused before the password is checked.
    const error = await refused(() => auth.authenticate(email.toUpperCase(), password, '203.0.113.9'));
    assert.equal(error.retryAfterSeconds, 15 * 60);
    await refused(() => auth.authenticate(user.username ?? '', password, '203.0.113.9'));
    // Attempts while locked are not counted.
    assert.equal(await countOf('account', user.id), wrong);

    // An unknown login and a wrong password of an unlocked user: the same error, the same message.
    const other = await users.create({ email: `other-${randomUUID()}@example.com`, password });
    const unknown = await auth
      .authenticate(`nobody-${randomUUID()}@example.com`, 'whatever', '203.0.113.10')
      .catch((e: unknown) => e);
    const mistyped = await auth.authenticate(other.email, 'whatever', '203.0.113.10').catch((e: unknown) => e);
    assert.ok(unknown instanceof UnauthorizedError && mistyped instanceof UnauthorizedError);
    assert.equal(unknown.message, 'Incorrect username or password');
    assert.equal(mistyped.message, unknown.message);
    assert.equal(await countOf('account', other.id), 1);
    // A success resets the account; the lock ends after the window.
    await auth.authenticate(other.email, password, '203.0.113.10');
    assert.equal(await countOf('account', other.id), 0);
    t.advance(15 * MINUTE);
    assert.equal((await auth.authenticate(email, password, '203.0.113.9')).user.id, user.id);
  });
});

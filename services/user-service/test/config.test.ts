import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_DATABASE_URL, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has working defaults: embedded SQLite, port 8000, migrate on start, SQLAlchemy pool sizes', () => {
    const c = loadConfig({});
    assert.equal(c.databaseUrl, DEFAULT_DATABASE_URL);
    assert.equal(c.port, 8000);
    assert.equal(c.migrateOnStart, true);
    assert.deepEqual(c.pool, { size: 5, maxOverflow: 10, acquireTimeoutMs: 10_000 });
    assert.equal(c.passwordHash.memoryKib, 19_456);
    assert.equal(c.passwordHash.nice, 10);
    assert.equal(loadConfig({ PASSWORD_HASH_NICE: '0' }).passwordHash.nice, 0);
  });

  it('does not migrate a server database on start unless asked', () => {
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql+asyncpg://u@h/db' }).migrateOnStart, false);
    assert.equal(loadConfig({ DATABASE_URL: 'mysql://u@h/db', MIGRATE_ON_START: 'true' }).migrateOnStart, true);
  });

  it('stops on a bad value with a message naming the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /^PORT must be an integer/],
      [{ PORT: '70000' }, /^PORT must be an integer between 0 and 65535/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
      [{ MIGRATE_ON_START: 'perhaps' }, /^MIGRATE_ON_START must be true or false/],
      [{ DATABASE_URL: 'oracle://x/y' }, /^DATABASE_URL: .*unknown scheme "oracle".*Accepted forms/],
      [{ DB_POOL_SIZE: '0' }, /^DB_POOL_SIZE/],
      [{ JWT_SECRET: 'short' }, /^JWT_SECRET must be at least 32/],
      [{ PASSWORD_HASH_MEMORY_KIB: '64' }, /^PASSWORD_HASH_MEMORY_KIB/],
      [{ PASSWORD_HASH_NICE: '20' }, /^PASSWORD_HASH_NICE must be an integer between 0 and 19/],
      [{ PASSWORD_HASH_NICE: '-5' }, /^PASSWORD_HASH_NICE/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(env),
      );
    }
  });

  it('reads the access settings, with safe defaults', () => {
    const access = loadConfig({}).access;
    assert.equal(access.authRequired, true);
    assert.equal(access.registration, 'open');
    assert.equal(access.jwtAlgorithm, 'EdDSA');
    assert.deepEqual([access.issuer, access.audience], ['user-service', 'user-service']);
    assert.deepEqual([access.refreshTokenDays, access.sessionMaxDays, access.refreshReuseGraceSeconds], [7, 30, 10]);
    assert.deepEqual(access.login, { accountMaxFailures: 10, ipMaxFailures: 100, windowMinutes: 15 });
    assert.equal(access.firstSuperuser, undefined);
    assert.equal(loadConfig({}).tokenMinutes, 15);
    assert.equal(loadConfig({}).trustProxy, false);
    const set = loadConfig({
      AUTH_REQUIRED: 'false',
      REGISTRATION: 'closed',
      JWT_ALGORITHM: 'hs256',
      JWT_SECRET: 's'.repeat(32),
      FIRST_SUPERUSER_EMAIL: 'root@example.com',
      FIRST_SUPERUSER_PASSWORD: 'first-Root-pass-1',
      TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    });
    assert.equal(set.access.authRequired, false);
    assert.equal(set.access.registration, 'closed');
    assert.equal(set.access.jwtAlgorithm, 'HS256');
    assert.deepEqual(set.access.firstSuperuser, { email: 'root@example.com', password: 'first-Root-pass-1' });
    assert.deepEqual(set.trustProxy, ['10.0.0.0/8', '127.0.0.1']);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig({ TRUST_PROXY: 'yes' }).trustProxy, true);
  });

  it('refuses access settings that cannot work, naming the variable', () => {
    for (const [env, message] of [
      [{ JWT_ALGORITHM: 'RS256' }, /JWT_ALGORITHM must be one of EdDSA, HS256/],
      [{ JWT_ALGORITHM: 'HS256' }, /JWT_ALGORITHM=HS256 needs JWT_SECRET/],
      [{ KEY_ENCRYPTION_SECRET: 'short' }, /KEY_ENCRYPTION_SECRET must be at least 32/],
      [{ FIRST_SUPERUSER_EMAIL: 'root@example.com' }, /FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD go together/],
      [
        { REFRESH_TOKEN_EXPIRE_DAYS: '40' },
        /SESSION_MAX_DAYS \(30\) must be at least REFRESH_TOKEN_EXPIRE_DAYS \(40\)/,
      ],
      [{ REGISTRATION: 'maybe' }, /REGISTRATION must be one of open, closed/],
      [{ TRUST_PROXY: 'everyone!' }, /TRUST_PROXY must be/],
    ] as const) {
      assert.throws(
        () => loadConfig(env),
        (error: Error) => error instanceof ConfigError && message.test(error.message),
      );
    }
  });
  it('reads the mail, account and audit settings, with defaults that send nothing and keep everything', () => {
    const c = loadConfig({});
    assert.deepEqual(c.mail, {
      smtpUrl: undefined,
      from: 'user-service <no-reply@localhost>',
      publicUrl: 'http://localhost:8000',
      maxAttempts: 10,
      pollMs: 5_000,
      retryBaseMs: 1_000,
    });
    assert.equal(c.access.requireVerifiedEmail, false);
    assert.equal(c.access.verifyTokenHours, 48);
    assert.equal(c.access.resetTokenMinutes, 30);
    assert.equal(c.auditRetentionDays, 0);
    const set = loadConfig({
      PORT: '9000',
      SMTP_URL: 'smtps://mailer:s3cret@smtp.example.com:465',
      MAIL_FROM: 'Accounts <accounts@example.com>',
      PUBLIC_URL: 'https://users.example.com/',
      REQUIRE_VERIFIED_EMAIL: 'yes',
      VERIFY_TOKEN_EXPIRE_HOURS: '24',
      RESET_TOKEN_EXPIRE_MINUTES: '15',
      AUDIT_RETENTION_DAYS: '90',
    });
    assert.equal(set.mail.smtpUrl, 'smtps://mailer:s3cret@smtp.example.com:465');
    assert.equal(set.mail.from, 'Accounts <accounts@example.com>');
    assert.equal(set.mail.publicUrl, 'https://users.example.com', 'no trailing slash: links append their path');
    assert.equal(set.access.requireVerifiedEmail, true);
    assert.equal(set.access.verifyTokenHours, 24);
    assert.equal(set.access.resetTokenMinutes, 15);
    assert.equal(set.auditRetentionDays, 90);
    assert.equal(loadConfig({ PORT: '9000' }).mail.publicUrl, 'http://localhost:9000', 'the default follows PORT');
  });

  it('refuses mail settings that cannot work, without echoing an SMTP password', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ SMTP_URL: 'http://user:hunter2-secret@mail.example.com' }, /^SMTP_URL must be smtp:\/\//],
      [{ SMTP_URL: 'not a url' }, /^SMTP_URL must be/],
      [{ MAIL_FROM: 'nobody' }, /^MAIL_FROM must be an address/],
      [{ PUBLIC_URL: 'ftp://files.example.com' }, /^PUBLIC_URL must be an http\(s\) URL/],
      [{ VERIFY_TOKEN_EXPIRE_HOURS: '0' }, /^VERIFY_TOKEN_EXPIRE_HOURS/],
      [{ RESET_TOKEN_EXPIRE_MINUTES: 'soon' }, /^RESET_TOKEN_EXPIRE_MINUTES/],
      [{ AUDIT_RETENTION_DAYS: '-1' }, /^AUDIT_RETENTION_DAYS/],
      [{ OUTBOX_POLL_MS: '1' }, /^OUTBOX_POLL_MS/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          assert.ok(!error.message.includes('hunter2-secret'), 'the SMTP password is not repeated');
          return true;
        },
      );
    }
  });

  it('reads REDIS_URL and CACHE_TTL_MS: off by default, a 30 s cache when set', () => {
    assert.deepEqual(loadConfig({}).redis, { url: undefined, cacheTtlMs: 30_000 });
    for (const url of ['redis://127.0.0.1:6379', 'rediss://:pw@cache.example.com:6380/2', 'redis://user:pw@h']) {
      assert.equal(loadConfig({ REDIS_URL: url }).redis.url, url);
    }
    assert.equal(loadConfig({ REDIS_URL: 'redis://h', CACHE_TTL_MS: '0' }).redis.cacheTtlMs, 0, '0: limits only');
  });

  it('reads PRINCIPAL_CACHE_SIZE: 10000 by default, 0 turns it off, bounded at 100000', () => {
    assert.equal(loadConfig({}).principalCacheSize, 10_000);
    assert.equal(loadConfig({ PRINCIPAL_CACHE_SIZE: '0' }).principalCacheSize, 0);
    assert.equal(loadConfig({ PRINCIPAL_CACHE_SIZE: '100000' }).principalCacheSize, 100_000);
    for (const value of ['-1', '100001', 'lots', '1.5']) {
      assert.throws(() => loadConfig({ PRINCIPAL_CACHE_SIZE: value }), /^ConfigError: PRINCIPAL_CACHE_SIZE must be/);
    }
  });

  it('refuses Redis settings that cannot work, without echoing a Redis password', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ REDIS_URL: 'http://:redis-pass-secret@cache.example.com' }, /^REDIS_URL must be redis:\/\//],
      [{ REDIS_URL: 'redis-pass-secret' }, /^REDIS_URL must be/],
      [{ REDIS_URL: 'redis://' }, /^REDIS_URL must be/],
      [{ CACHE_TTL_MS: '-1' }, /^CACHE_TTL_MS must be an integer/],
      [{ CACHE_TTL_MS: 'long' }, /^CACHE_TTL_MS must be an integer/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          assert.ok(!error.message.includes('redis-pass-secret'), 'the Redis password is not repeated');
          return true;
        },
      );
    }
  });
});

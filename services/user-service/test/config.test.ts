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
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(env),
      );
    }
  });
});

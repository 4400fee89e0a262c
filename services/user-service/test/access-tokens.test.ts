/**
 * Access tokens (src/auth/access-tokens.ts) on every database: the round trip, every forgery we know of refused,
 * key rotation across processes, retired keys ageing out, private keys encrypted at rest, HS256 mode, an
 * independent verifier through the JWKS, and the `keys` command.
 */
import assert from 'node:assert/strict';
import { randomBytes, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Database, Migrator, openDatabase, typedQuery } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import {
  base64url,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { type AccessTokenOptions, AccessTokens, rotateSigningKey } from '../src/auth/access-tokens.js';
import { SigningKeyRepository } from '../src/auth/signing-key.repository.js';
import { SERVICE_TABLES } from '../src/declared-tables.js';
import { UnauthorizedError } from '../src/errors.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { cli } from './support/cli.js';

const OPTIONS: AccessTokenOptions = {
  algorithm: 'EdDSA',
  issuer: 'user-service',
  audience: 'user-service',
  lifetimeSeconds: 900,
};
const SECRET = 'key-encryption-secret-key-encryption-secret';
const HS_SECRET = 'hs256-shared-secret-hs256-shared-secret';

async function openMigrated(url: string): Promise<Database> {
  const database = await openDatabase(url, { connectAttempts: 1 });
  await (await Migrator.fromDirectory(database, MIGRATIONS_DIR)).up();
  return database;
}

async function emptyKeys(database: Database): Promise<void> {
  await typedQuery(database, SERVICE_TABLES, (db) => db.deleteFrom('signing_keys').execute());
}

async function refused(tokens: AccessTokens, token: string): Promise<void> {
  await assert.rejects(tokens.verify(token), (error: unknown) => {
    assert.ok(error instanceof UnauthorizedError, `expected UnauthorizedError, got ${String(error)}`);
    assert.equal(error.message, 'Could not validate credentials');
    return true;
  });
}

type CryptoKey = webcrypto.CryptoKey;

const now = () => Math.floor(Date.now() / 1000);

onEachDatabase('access tokens', (tdb) => {
  let database: Database;
  let tokens: AccessTokens;
  let kid: string;
  let privateKey: CryptoKey;
  let publicJwk: JWK;
  const otherDir = mkdtempSync(join(tmpdir(), 'us-keys-'));

  /** A token as the service would sign it, with the real signing key, then changed by `change`. */
  function forge(
    change: { header?: Record<string, unknown>; claims?: Record<string, unknown>; drop?: string[] } = {},
  ): Promise<string> {
    const claims: Record<string, unknown> = {
      sub: 'user-1',
      sid: 'session-1',
      jti: 'jti-1',
      iat: now(),
      exp: now() + 600,
      iss: OPTIONS.issuer,
      aud: OPTIONS.audience,
      ...change.claims,
    };
    for (const name of change.drop ?? []) delete claims[name];
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt', ...change.header } as never)
      .sign(privateKey);
  }

  before(async () => {
    database = await openMigrated(requireUrl(tdb));
    await emptyKeys(database);
    tokens = await AccessTokens.open(database, OPTIONS);
    const rows = await new SigningKeyRepository(database).all();
    assert.equal(rows.length, 1, 'the first start makes one key');
    kid = rows[0]!.kid;
    const stored = await new SigningKeyRepository(database).privateKey(kid);
    privateKey = (await importJWK(JSON.parse(stored!) as JWK, 'EdDSA')) as CryptoKey;
    publicJwk = JSON.parse(rows[0]!.public_jwk) as JWK;
  });
  after(async () => {
    await database.close();
    rmSync(otherDir, { recursive: true, force: true });
  });

  describe('round trip', () => {
    it('signs a token with every claim and the RFC 9068 header, and verifies it', async () => {
      const { token, expiresIn } = await tokens.sign('user-1', 'session-1');
      assert.equal(expiresIn, 900);
      const header = decodeProtectedHeader(token);
      assert.deepEqual(header, { alg: 'EdDSA', kid, typ: 'at+jwt' });
      const payload = decodeJwt(token);
      assert.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
      assert.equal(payload.iss, 'user-service');
      assert.equal(payload.aud, 'user-service');
      assert.equal(payload.exp! - payload.iat!, 900);
      const claims = await tokens.verify(token);
      assert.deepEqual(claims, {
        sub: 'user-1',
        sid: 'session-1',
        jti: payload.jti,
        iat: payload.iat,
        exp: payload.exp,
      });
      const second = await tokens.sign('user-1', 'session-1');
      assert.notEqual(decodeJwt(second.token).jti, payload.jti, 'jti is random');
    });

    it('accepts a token forged here with the real key and valid claims (the forgeries below differ by one thing)', async () => {
      assert.equal((await tokens.verify(await forge())).sub, 'user-1');
    });

    it('is accepted by an independent verifier through the JWKS (jose createLocalJWKSet)', async () => {
      const { token } = await tokens.sign('user-2', 'session-2');
      const jwks = await tokens.jwks();
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0]!.kid, kid);
      assert.equal(jwks.keys[0]!.d, undefined, 'no private part in the JWKS');
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
        algorithms: ['EdDSA'],
        issuer: 'user-service',
        audience: 'user-service',
        typ: 'at+jwt',
      });
      assert.equal(payload.sub, 'user-2');
      assert.equal(protectedHeader.kid, kid);
    });
  });

  describe('refused', () => {
    it('alg none', async () => {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid }));
      const body = base64url.encode(
        JSON.stringify({
          sub: 'u',
          sid: 's',
          jti: 'j',
          iat: now(),
          exp: now() + 600,
          iss: 'user-service',
          aud: 'user-service',
        }),
      );
      await refused(tokens, `${header}.${body}.`);
    });

    it('HS256 signed with the Ed25519 public key bytes as the HMAC secret', async () => {
      const token = await new SignJWT({ sid: 's' })
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
        .setSubject('u')
        .setJti('j')
        .setIssuer('user-service')
        .setAudience('user-service')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(base64url.decode(publicJwk.x!));
      await refused(tokens, token);
    });

    it('HS256 signed with the public JWK (JSON) as the HMAC secret', async () => {
      const token = await new SignJWT({ sid: 's' })
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
        .setSubject('u')
        .setJti('j')
        .setIssuer('user-service')
        .setAudience('user-service')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
      await refused(tokens, token);
    });

    it('expired (beyond the 5 s clock tolerance)', async () => {
      await refused(tokens, await forge({ claims: { iat: now() - 1000, exp: now() - 10 } }));
    });

    it('wrong aud', async () => {
      await refused(tokens, await forge({ claims: { aud: 'another-service' } }));
    });

    it('wrong iss', async () => {
      await refused(tokens, await forge({ claims: { iss: 'https://evil.example' } }));
    });

    it('flipped signature byte', async () => {
      const token = await forge();
      const [h, p, s] = token.split('.');
      const signature = base64url.decode(s!);
      signature[10]! ^= 0x01;
      await refused(tokens, `${h}.${p}.${base64url.encode(signature)}`);
    });

    it('unknown kid (a key that is not in the database)', async () => {
      const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const token = await new SignJWT({ sid: 's', sub: 'u', jti: 'j', iss: 'user-service', aud: 'user-service' })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'not-a-kid-of-ours', typ: 'at+jwt' })
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(stranger.privateKey);
      await refused(tokens, token);
    });

    it('a real kid on a token signed by another key', async () => {
      const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const token = await new SignJWT({ sid: 's', sub: 'u', jti: 'j', iss: 'user-service', aud: 'user-service' })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(stranger.privateKey);
      await refused(tokens, token);
    });

    it('no kid', async () => {
      await refused(tokens, await forge({ header: { kid: undefined } }));
    });

    it('missing sid', async () => {
      await refused(tokens, await forge({ drop: ['sid'] }));
    });

    it('missing jti', async () => {
      await refused(tokens, await forge({ drop: ['jti'] }));
    });

    it('missing sub', async () => {
      await refused(tokens, await forge({ drop: ['sub'] }));
    });

    it('sid that is not a string', async () => {
      await refused(tokens, await forge({ claims: { sid: 42 } }));
    });

    it('wrong typ (JWT)', async () => {
      await refused(tokens, await forge({ header: { typ: 'JWT' } }));
    });

    it('no typ', async () => {
      await refused(tokens, await forge({ header: { typ: undefined } }));
    });

    it('a random opaque string (a refresh token used as an access token)', async () => {
      await refused(tokens, randomBytes(32).toString('base64url'));
      await refused(tokens, '');
      await refused(tokens, 'a.b.c');
    });

    it("a token signed with another database's keys", async () => {
      const other = await openMigrated(`sqlite:///${join(otherDir, 'other.db')}`);
      try {
        const foreign = await AccessTokens.open(other, OPTIONS);
        const { token } = await foreign.sign('user-1', 'session-1');
        assert.equal((await foreign.verify(token)).sub, 'user-1');
        await refused(tokens, token);
      } finally {
        await other.close();
      }
    });
  });

  describe('rotation', () => {
    it('signs with the new key at once; old tokens still verify; another process picks the new kid up', async () => {
      const other = await AccessTokens.open(database, OPTIONS);
      const old = await tokens.sign('user-1', 'session-1');
      // The other process reloads for this unknown kid; the next unknown-kid reload waits about a second.
      await refused(other, await forge({ header: { kid: 'unknown-kid' } }));
      const { kid: newKid } = await tokens.rotate();
      assert.notEqual(newKid, kid);
      const fresh = await tokens.sign('user-1', 'session-1');
      assert.equal(decodeProtectedHeader(fresh.token).kid, newKid);
      assert.equal(decodeProtectedHeader(old.token).kid, kid);
      assert.equal((await tokens.verify(old.token)).sid, 'session-1', 'the old key still verifies');
      assert.equal((await tokens.verify(fresh.token)).sid, 'session-1');
      const started = Date.now();
      assert.equal((await other.verify(fresh.token)).sid, 'session-1', 'another process reloads on unknown kid');
      assert.ok(Date.now() - started < 3000);
      assert.equal((await other.verify(old.token)).sid, 'session-1');
      const published = (await tokens.jwks()).keys.map((k) => k.kid).sort();
      assert.deepEqual(published, [kid, newKid].sort(), 'both keys published while the old one verifies');
      const rows = await new SigningKeyRepository(database).all();
      assert.equal(rows.find((r) => r.kid === kid)?.retired_at !== null, true, 'the old key is retired');
      assert.equal(rows.find((r) => r.kid === newKid)?.retired_at, null);
    });

    it('a retired key past the token lifetime stops verifying, leaves the JWKS and is deleted', async () => {
      const keys = new SigningKeyRepository(database);
      const old = await tokens.sign('user-1', 'session-1');
      const oldKid = decodeProtectedHeader(old.token).kid!;
      await tokens.rotate();
      // Retired two hours ago: beyond 900 s of token lifetime plus the refresh delay and margin.
      await keys.retire(oldKid, new Date(Date.now() - 2 * 3600_000).toISOString());
      const restarted = await AccessTokens.open(database, OPTIONS);
      await refused(restarted, old.token);
      assert.ok(!(await restarted.jwks()).keys.some((k) => k.kid === oldKid));
      assert.ok(!(await keys.all()).some((k) => k.kid === oldKid), 'pruned at start');
      const current = await restarted.sign('user-1', 'session-1');
      assert.equal((await tokens.verify(current.token)).sub, 'user-1');
    });

    it('two processes starting together on an empty table both work', async () => {
      await emptyKeys(database);
      const [a, b] = await Promise.all([AccessTokens.open(database, OPTIONS), AccessTokens.open(database, OPTIONS)]);
      const fromA = await a.sign('user-a', 's');
      const fromB = await b.sign('user-b', 's');
      assert.equal((await b.verify(fromA.token)).sub, 'user-a');
      assert.equal((await a.verify(fromB.token)).sub, 'user-b');
      const rows = await new SigningKeyRepository(database).all();
      assert.ok(rows.length >= 1 && rows.length <= 2, `${rows.length} keys`);
      // Whoever loaded last signs with the newest key; the JWKS of either holds every key that signed.
      for (const tokenKid of [fromA.token, fromB.token].map((t) => decodeProtectedHeader(t).kid)) {
        assert.ok(rows.some((r) => r.kid === tokenKid));
      }
    });
  });

  describe('private keys at rest', () => {
    beforeEach(() => emptyKeys(database));

    it('without KEY_ENCRYPTION_SECRET: stored as JWK JSON, with a warning', async () => {
      const logged: string[] = [];
      await AccessTokens.open(database, OPTIONS, (m) => logged.push(m));
      assert.equal(logged.filter((m) => m.includes('KEY_ENCRYPTION_SECRET is not set')).length, 1);
      const keys = new SigningKeyRepository(database);
      const [row] = await keys.all();
      assert.equal(JSON.parse((await keys.privateKey(row!.kid))!).kty, 'OKP');
    });

    it('with KEY_ENCRYPTION_SECRET: encrypted (not JSON, no "d"); a wrong or missing secret fails start', async () => {
      const logged: string[] = [];
      const withSecret = { ...OPTIONS, keyEncryptionSecret: SECRET };
      const sealed = await AccessTokens.open(database, withSecret, (m) => logged.push(m));
      assert.deepEqual(logged, [], 'no warning with the secret set');
      const keys = new SigningKeyRepository(database);
      const [row] = await keys.all();
      const stored = (await keys.privateKey(row!.kid))!;
      assert.match(stored, /^enc:v1:/);
      assert.throws(() => JSON.parse(stored));
      assert.ok(!stored.includes('"d"'));
      const { token } = await sealed.sign('user-1', 'session-1');
      assert.equal((await sealed.verify(token)).sub, 'user-1');
      // Reopened with the same secret (a restart): the same key signs.
      const again = await AccessTokens.open(database, withSecret);
      assert.equal(decodeProtectedHeader((await again.sign('u', 's')).token).kid, row!.kid);

      const wrong = 'another-secret-another-secret-another-secret';
      await assert.rejects(AccessTokens.open(database, { ...OPTIONS, keyEncryptionSecret: wrong }), (error: Error) => {
        assert.match(error.message, /KEY_ENCRYPTION_SECRET/);
        assert.ok(!error.message.includes(wrong) && !error.message.includes(SECRET), 'no secret in the message');
        return true;
      });
      await assert.rejects(AccessTokens.open(database, OPTIONS), /KEY_ENCRYPTION_SECRET/);

      // A lost secret: rotating with a new one makes a key that signs (old tokens verify; nothing is decrypted).
      await rotateSigningKey(database, {
        ...OPTIONS,
        keyEncryptionSecret: wrong,
      });
      const recovered = await AccessTokens.open(database, { ...OPTIONS, keyEncryptionSecret: wrong });
      assert.equal((await recovered.verify(token)).sub, 'user-1');
    });
  });

  describe('HS256', () => {
    const HS: AccessTokenOptions = { ...OPTIONS, algorithm: 'HS256', secret: HS_SECRET };

    it('round trip, no kid, the RFC 9068 typ', async () => {
      const hs = await AccessTokens.open(database, HS);
      const { token } = await hs.sign('user-1', 'session-1');
      assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'at+jwt' });
      assert.equal((await hs.verify(token)).sid, 'session-1');
    });

    it('refuses EdDSA tokens, and EdDSA refuses HS256 tokens', async () => {
      const hs = await AccessTokens.open(database, HS);
      await refused(hs, (await tokens.sign('user-1', 'session-1')).token);
      await refused(tokens, (await hs.sign('user-1', 'session-1')).token);
    });

    it('refuses a token signed with another secret', async () => {
      const hs = await AccessTokens.open(database, HS);
      const other = await AccessTokens.open(database, { ...HS, secret: `${HS_SECRET}-other` });
      await refused(hs, (await other.sign('user-1', 'session-1')).token);
    });

    it('publishes no keys and has none to rotate', async () => {
      const hs = await AccessTokens.open(database, HS);
      assert.deepEqual(await hs.jwks(), { keys: [] });
      await assert.rejects(hs.rotate(), /HS256/);
    });
  });

  describe('keys command', () => {
    it('keys rotate prints the new kid; keys list shows kids and dates, never key material', async () => {
      await emptyKeys(database);
      const running = await AccessTokens.open(database, OPTIONS);
      const first = (await new SigningKeyRepository(database).all())[0]!.kid;
      const rotated = await cli(tdb, ['keys', 'rotate']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const newKid = rotated.stdout.trim();
      assert.match(newKid, /^[A-Za-z0-9_-]{43}$/);
      const listed = await cli(tdb, ['keys', 'list']);
      assert.equal(listed.code, 0, listed.stderr);
      const lines = listed.stdout.trim().split('\n');
      assert.equal(lines[0], 'kid\tcreated_at\tretired_at\tstatus');
      assert.match(lines[1]!, new RegExp(`^${newKid}\\t\\S+\\t-\\tsigning$`));
      assert.match(lines[2]!, new RegExp(`^${first}\\t\\S+\\t\\S+Z\\tverifying until \\S+Z$`));
      for (const output of [rotated, listed]) {
        assert.ok(!/"d"|enc:v1|"x"/.test(output.stdout + output.stderr), 'no key material printed');
      }
      // A running process verifies tokens of the key the command made (an unknown kid reloads the keys).
      const restarted = await AccessTokens.open(database, OPTIONS);
      const { token } = await restarted.sign('user-1', 'session-1');
      assert.equal(decodeProtectedHeader(token).kid, newKid);
      assert.equal((await running.verify(token)).sub, 'user-1');
    });
  });
});

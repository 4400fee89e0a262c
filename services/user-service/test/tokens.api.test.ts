/**
 * Access tokens through the HTTP API (the access issue, "Tokens and sessions" and "Tests"): forged or wrong tokens
 * are a 401 with `WWW-Authenticate: Bearer`; a token is verified by an independent client through the running
 * service's JWKS, before and after a key rotation; HS256 mode. Forgeries that need a valid signature are signed
 * with the service's own private key, read from the database, and a control token signed the same way with the
 * right claims is accepted, so each refusal is about the one thing changed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { rotateSigningKey } from '../src/auth/access-tokens.js';
import { openPrivateKey } from '../src/auth/key-encryption.js';
import { SigningKeyRepository } from '../src/auth/signing-key.repository.js';
import { defaultAccess } from '../src/config.js';
import {
  emptyTables,
  openTestApp,
  type SignedIn,
  TEST_PASSWORD,
  TEST_TOKEN_SECRET,
  type TestApp,
} from './support/test-app.js';

const API = '/api/v1';
const { issuer: ISSUER, audience: AUDIENCE } = defaultAccess();
const LIFETIME_SECONDS = 15 * 60;

type Key = Parameters<SignJWT['sign']>[0];

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The claims of a token for this session, as the service would sign them. */
function claimsFor(signed: SignedIn, overrides: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  const real = decodeJwt(signed.access_token);
  return {
    sub: real.sub,
    sid: real.sid,
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
    ...overrides,
  };
}

function sign(claims: JWTPayload, header: { alg: string; kid?: string; typ?: string }, key: Key): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ typ: 'at+jwt', ...header }).sign(key);
}

/** The token with one bit of its signature's first byte flipped. */
function flipSignature(token: string): string {
  const [header, payload, signature] = token.split('.');
  const bytes = Buffer.from(signature ?? '', 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

onEachDatabase('access tokens through the API', (tdb) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(tdb, { defaultCredentials: false });
  });
  after(() => t.close());
  beforeEach(() => emptyTables(t.database));

  /** The key that signs now: its kid and private key, from the database (stored unencrypted in the tests). */
  async function signingKey(): Promise<{ kid: string; key: Key }> {
    const keys = new SigningKeyRepository(t.database);
    const newest = (await keys.all()).find((k) => k.retired_at === null);
    assert.ok(newest, 'a signing key');
    const stored = await keys.privateKey(newest.kid);
    const jwk = JSON.parse(openPrivateKey(stored ?? '', newest.kid, undefined)) as JWK;
    return { kid: newest.kid, key: (await importJWK(jwk, 'EdDSA')) as Key };
  }

  const me = (authorization: string, app: TestApp = t) =>
    app.app.inject({ url: `${API}/auth/me`, headers: { authorization } });
  async function assertRefused(authorization: string, what: string, app: TestApp = t) {
    const res = await me(authorization, app);
    assert.equal(res.statusCode, 401, `${what}: ${res.statusCode} ${res.body}`);
    assert.equal(res.headers['www-authenticate'], 'Bearer', what);
  }

  describe('forged or wrong tokens are a 401 with WWW-Authenticate: Bearer', () => {
    it('a token signed with the real key and the right claims is accepted (the control)', async () => {
      const signed = await t.signUp();
      const { kid, key } = await signingKey();
      assert.equal(decodeProtectedHeader(signed.access_token).kid, kid);
      const res = await me(`Bearer ${await sign(claimsFor(signed), { alg: 'EdDSA', kid }, key)}`);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().id, signed.user.id);
    });

    it('alg none', async () => {
      const signed = await t.signUp();
      const { kid } = await signingKey();
      await assertRefused(`Bearer ${new UnsecuredJWT(claimsFor(signed)).encode()}`, 'alg none (jose)');
      for (const alg of ['none', 'None', 'NONE']) {
        const token = `${b64({ alg, kid, typ: 'at+jwt' })}.${b64(claimsFor(signed))}.`;
        await assertRefused(`Bearer ${token}`, `alg ${alg}, no signature`);
      }
      // The real signature, under a header that says none.
      const [, payload, signature] = signed.access_token.split('.');
      await assertRefused(`Bearer ${b64({ alg: 'none', kid, typ: 'at+jwt' })}.${payload}.${signature}`, 'none + sig');
    });

    it('HS256 signed with the public key from /.well-known/jwks.json (algorithm confusion)', async () => {
      const signed = await t.signUp();
      const jwks = (await t.app.inject('/.well-known/jwks.json')).json() as { keys: JWK[] };
      const publicJwk = jwks.keys.find((k) => k.kid === decodeProtectedHeader(signed.access_token).kid);
      assert.ok(publicJwk?.x, 'the signing key is published');
      const secrets = [
        Buffer.from(publicJwk.x, 'base64url'),
        Buffer.from(publicJwk.x),
        Buffer.from(JSON.stringify(publicJwk)),
      ];
      for (const secret of secrets) {
        for (const kid of [publicJwk.kid, undefined]) {
          const token = await sign(
            claimsFor(signed),
            { alg: 'HS256', ...(kid ? { kid } : {}) },
            new Uint8Array(secret),
          );
          await assertRefused(`Bearer ${token}`, `HS256 with the public key (${secret.length} bytes, kid ${kid})`);
        }
      }
    });

    it('expired, wrong aud, wrong iss, wrong typ, missing sid or sub', async () => {
      const signed = await t.signUp();
      const { kid, key } = await signingKey();
      const now = Math.floor(Date.now() / 1000);
      const cases: [string, JWTPayload, Record<string, string>?][] = [
        ['expired a minute ago', { iat: now - LIFETIME_SECONDS - 60, exp: now - 60 }],
        ['wrong aud', { aud: 'another-service' }],
        ['aud list without ours', { aud: ['another-service', 'a-third'] }],
        ['wrong iss', { iss: 'https://evil.example.com' }],
        ['no sid', { sid: undefined }],
        ['sid of no session', { sid: randomUUID() }],
        ['sub of another user than the session', { sub: randomUUID() }],
        ['wrong typ', {}, { typ: 'JWT' }],
      ];
      for (const [what, overrides, header] of cases) {
        const token = await sign(claimsFor(signed, overrides), { alg: 'EdDSA', kid, ...header }, key);
        await assertRefused(`Bearer ${token}`, what);
      }
    });

    it('a flipped signature byte, an unknown kid, a key the service never had', async () => {
      const signed = await t.signUp();
      await assertRefused(`Bearer ${flipSignature(signed.access_token)}`, 'flipped signature byte');
      const { key } = await signingKey();
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed), { alg: 'EdDSA', kid: 'no-such-kid' }, key)}`,
        'unknown kid (signed with the real key)',
      );
      await assertRefused(`Bearer ${await sign(claimsFor(signed), { alg: 'EdDSA' }, key)}`, 'no kid');
      const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const { kid } = await signingKey();
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed), { alg: 'EdDSA', kid }, stranger.privateKey)}`,
        "the real kid, another key's signature",
      );
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed), { alg: 'HS256', kid }, new TextEncoder().encode(TEST_TOKEN_SECRET))}`,
        'HS256 with the server secret while EdDSA is configured',
      );
      assert.equal((await me(signed.headers.authorization)).statusCode, 200, 'the real token still works');
    });

    it('a refresh token used as an access token; tokens of a logged-out, deactivated or deleted session', async () => {
      const signed = await t.signUp();
      await assertRefused(`Bearer ${signed.refresh_token}`, 'refresh token as access token');

      const loggedOut = await t.signUp();
      const out = await t.app.inject({ method: 'POST', url: `${API}/auth/logout`, headers: loggedOut.headers });
      assert.equal(out.statusCode, 204);
      await assertRefused(loggedOut.headers.authorization, 'logged-out session');

      const admin = await t.signUp({ superuser: true });
      const deactivated = await t.signUp();
      const off = await t.app.inject({
        method: 'POST',
        url: `${API}/users/${deactivated.user.id}/deactivate`,
        headers: admin.headers,
      });
      assert.equal(off.statusCode, 200, off.body);
      await assertRefused(deactivated.headers.authorization, 'deactivated user');

      const deleted = await t.signUp();
      const del = await t.app.inject({
        method: 'DELETE',
        url: `${API}/users/${deleted.user.id}`,
        headers: admin.headers,
      });
      assert.equal(del.statusCode, 204, del.body);
      await assertRefused(deleted.headers.authorization, 'deleted user');
      assert.equal((await me(signed.headers.authorization)).statusCode, 200);
    });

    it('malformed Authorization headers', async () => {
      const signed = await t.signUp();
      const [header, payload] = signed.access_token.split('.');
      const cases = [
        'Bearer',
        'Bearer ',
        'Bearer    ',
        `Basic ${Buffer.from(`${signed.user.email}:${TEST_PASSWORD}`).toString('base64')}`,
        `Token ${signed.access_token}`,
        signed.access_token,
        `Bearer ${signed.access_token} extra`,
        `Bearer ${signed.access_token},Bearer ${signed.access_token}`,
        `Bearer ${header}.${payload}`,
        `Bearer ${header}.${payload}.`,
        'Bearer a.b.c',
        'Bearer ....',
        `Bearer ${'A'.repeat(5000)}`,
        `Bearer ${signed.access_token}${'A'.repeat(5000)}`,
        'Bearer usk_not-a-key',
      ];
      for (const authorization of cases) await assertRefused(authorization, JSON.stringify(authorization.slice(0, 60)));
      const both = await t.app.inject({
        url: `${API}/auth/me`,
        headers: { authorization: signed.headers.authorization, 'x-api-key': t.apiKey },
      });
      assert.equal(both.statusCode, 401, 'Authorization and X-API-Key together');
      assert.equal((await me(`bearer ${signed.access_token}`)).statusCode, 200, 'the scheme is case-insensitive');
    });
  });

  describe('an independent verifier', () => {
    it("verifies a token through the running service's JWKS, and after a key rotation old and new tokens both", async () => {
      const user = await t.signUp();
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const address = t.app.server.address();
      assert.ok(address && typeof address === 'object');
      const base = `http://127.0.0.1:${address.port}`;
      const loginOver = async (url: string) => {
        const res = await fetch(`${url}${API}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: user.user.email, password: TEST_PASSWORD }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(res.headers.get('cache-control'), 'no-store');
        return ((await res.json()) as { access_token: string }).access_token;
      };
      const verifyWith = (jwks: ReturnType<typeof createRemoteJWKSet>, token: string) =>
        jwtVerify(token, jwks, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'], typ: 'at+jwt' });

      const oldToken = await loginOver(base);
      const oldKid = decodeProtectedHeader(oldToken).kid;
      const verified = await verifyWith(createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), oldToken);
      assert.equal(verified.payload.sub, user.user.id);
      assert.equal(typeof verified.payload.sid, 'string');
      assert.equal(typeof verified.payload.jti, 'string');
      assert.equal(verified.payload.exp, (verified.payload.iat ?? 0) + LIFETIME_SECONDS);
      assert.equal(verified.protectedHeader.alg, 'EdDSA');
      await assert.rejects(
        jwtVerify(oldToken, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), {
          issuer: ISSUER,
          audience: 'another-service',
        }),
        'a verifier for another audience refuses it',
      );

      // `keys rotate` (the CLI runs rotateSigningKey), then a process started after it signs with the new key.
      const { kid: newKid } = await rotateSigningKey(t.database, {
        algorithm: 'EdDSA',
        issuer: ISSUER,
        audience: AUDIENCE,
        lifetimeSeconds: LIFETIME_SECONDS,
      });
      assert.notEqual(newKid, oldKid);
      const fresh = await openTestApp(tdb, { defaultCredentials: false });
      try {
        await fresh.app.listen({ port: 0, host: '127.0.0.1' });
        const freshAddress = fresh.app.server.address();
        assert.ok(freshAddress && typeof freshAddress === 'object');
        const freshBase = `http://127.0.0.1:${freshAddress.port}`;
        const newToken = await loginOver(freshBase);
        assert.equal(decodeProtectedHeader(newToken).kid, newKid, 'new tokens carry the new kid');

        const freshJwks = createRemoteJWKSet(new URL(`${freshBase}/.well-known/jwks.json`));
        await verifyWith(freshJwks, oldToken);
        await verifyWith(freshJwks, newToken);
        const published = (await (await fetch(`${freshBase}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
        assert.deepEqual(published.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
        for (const k of published.keys) {
          assert.equal(k.d, undefined, 'no private part in the JWKS');
          assert.equal(k.kty, 'OKP');
          assert.equal(k.crv, 'Ed25519');
        }
        // Both services accept both tokens (the first learns the new kid on first sight).
        for (const app of [t, fresh]) {
          for (const token of [oldToken, newToken]) {
            assert.equal((await me(`Bearer ${token}`, app)).statusCode, 200);
          }
        }
        await verifyWith(createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), newToken);
      } finally {
        await fresh.close();
      }
    });

    it("publishes a rotated key in every process's JWKS as soon as any process can sign with it", async () => {
      await t.signUp();
      const firstJwks = async () =>
        ((await t.app.inject('/.well-known/jwks.json')).json() as { keys: JWK[] }).keys.map((k) => k.kid);
      await firstJwks();
      const { kid } = await rotateSigningKey(t.database, {
        algorithm: 'EdDSA',
        issuer: ISSUER,
        audience: AUDIENCE,
        lifetimeSeconds: LIFETIME_SECONDS,
      });
      const fresh = await openTestApp(tdb, { defaultCredentials: false });
      try {
        const signed = await fresh.signUp();
        assert.equal(decodeProtectedHeader(signed.access_token).kid, kid);
        // A consumer whose JWKS request reaches the first process cannot verify the second one's token.
        const jwks = createLocalJWKSet((await t.app.inject('/.well-known/jwks.json')).json() as { keys: JWK[] });
        await jwtVerify(signed.access_token, jwks, { issuer: ISSUER, audience: AUDIENCE });
      } finally {
        await fresh.close();
      }
    });
  });

  describe('HS256 mode', () => {
    let hs: TestApp;
    before(async () => {
      hs = await openTestApp(tdb, { defaultCredentials: false, access: { jwtAlgorithm: 'HS256' } });
    });
    after(() => hs.close());

    it('logs in with HS256 tokens (no kid, empty JWKS) and refuses EdDSA-looking or wrongly signed tokens', async () => {
      const signed = await hs.signUp();
      const header = decodeProtectedHeader(signed.access_token);
      assert.equal(header.alg, 'HS256');
      assert.equal(header.kid, undefined);
      assert.equal((await me(signed.headers.authorization, hs)).statusCode, 200);
      const verified = await jwtVerify(signed.access_token, new TextEncoder().encode(TEST_TOKEN_SECRET), {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
      });
      assert.equal(verified.payload.sub, signed.user.id);
      assert.deepEqual((await hs.app.inject('/.well-known/jwks.json')).json(), { keys: [] });
      const refreshed = await hs.app.inject({
        method: 'POST',
        url: `${API}/auth/refresh`,
        payload: { refresh_token: signed.refresh_token },
      });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
      assert.equal(decodeProtectedHeader(refreshed.json().access_token).alg, 'HS256');

      const secret = new TextEncoder().encode(TEST_TOKEN_SECRET);
      const control = await sign(claimsFor(signed), { alg: 'HS256' }, secret);
      assert.equal((await me(`Bearer ${control}`, hs)).statusCode, 200, 'the control: right secret, right claims');

      // An EdDSA token of the same session, signed with the database key the EdDSA app uses, or with any key.
      const { kid, key } = await signingKey();
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed), { alg: 'EdDSA', kid }, key)}`,
        'EdDSA (real key)',
        hs,
      );
      const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed), { alg: 'EdDSA', kid: 'x' }, stranger.privateKey)}`,
        'EdDSA (another key)',
        hs,
      );
      const edUser = await t.signUp();
      await assertRefused(edUser.headers.authorization, "the EdDSA app's own token", hs);
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed), { alg: 'HS256' }, new TextEncoder().encode('another-secret-another-secret-xx'))}`,
        'HS256 with another secret',
        hs,
      );
      await assertRefused(`Bearer ${await sign(claimsFor(signed), { alg: 'HS512' }, secret)}`, 'HS512', hs);
      await assertRefused(`Bearer ${new UnsecuredJWT(claimsFor(signed)).encode()}`, 'alg none', hs);
      await assertRefused(`Bearer ${flipSignature(signed.access_token)}`, 'flipped signature byte', hs);
      await assertRefused(
        `Bearer ${await sign(claimsFor(signed, { aud: 'another-service' }), { alg: 'HS256' }, secret)}`,
        'wrong aud',
        hs,
      );
    });
  });
});

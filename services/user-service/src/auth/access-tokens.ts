/**
 * Access tokens (RFC 9068 JWTs, `typ: at+jwt`) signed with jose: EdDSA (Ed25519) with keys kept in the database
 * and published at /.well-known/jwks.json, or HS256 with the shared JWT_SECRET.
 *
 * Keys (EdDSA): the newest key that is not retired signs. Every key is imported once (public keys to CryptoKeys
 * when they are first seen, the signer's private key when it becomes the signer), so verifying a token whose kid
 * is known does no database work and imports nothing. The key set is re-read:
 * - before signing, when it is older than SIGNER_REFRESH_SECONDS (30 s): a process switches to a key made by
 *   `keys rotate` (or another process's rotate()) at most 30 s after it, plus one query;
 * - in the background (never awaited by a request) when a verify finds it older than that, so a verify-only
 *   process learns of retirements too;
 * - when a token names an unknown kid, at most once per UNKNOWN_KID_RELOAD_MS (1 s) whatever the number of such
 *   tokens (a request with an unknown kid waits for the next reload, at most about a second, then gets 401).
 * A retired key verifies until retired_at + token lifetime + SIGNER_REFRESH_SECONDS + RETIRED_MARGIN_SECONDS
 * (a process that had not yet noticed the rotation may have signed with it until then), then leaves the JWKS
 * and is deleted by the next rotation or start.
 */

import { randomUUID, webcrypto } from 'node:crypto';
import type { Database } from '@user-service/data';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  jwtVerify,
  SignJWT,
} from 'jose';
import { type AuditContext, recordAudit } from '../audit/audit-events.js';
import type { Config } from '../config.js';
import { UnauthorizedError } from '../errors.js';
import { openPrivateKey, sealPrivateKey } from './key-encryption.js';
import { type SigningKey, SigningKeyRepository } from './signing-key.repository.js';
import { VerifiedTokens } from './verified-tokens.js';

export interface AccessTokenOptions {
  algorithm: 'EdDSA' | 'HS256';
  /** The HS256 secret (JWT_SECRET); required for HS256, unused for EdDSA. */
  secret?: string;
  issuer: string;
  audience: string;
  lifetimeSeconds: number;
  /** Encrypts private signing keys at rest (EdDSA). */
  keyEncryptionSecret?: string;
}

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

/** RFC 9068's media type for JWT access tokens; a token of any other `typ` (an ID token, ...) is refused. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Accepted clock difference between the signer and the verifier, on `exp` (and `iat`/`nbf`), in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 5;
/** How stale a process's view of the keys may get before it signs: the delay after `keys rotate`. */
export const SIGNER_REFRESH_SECONDS = 30;
/** The least time between two reloads for tokens with an unknown kid. */
export const UNKNOWN_KID_RELOAD_MS = 1_000;
/** Slack on a retired key's verification window, for a slow refresh query or clocks apart between processes. */
const RETIRED_MARGIN_SECONDS = 60;
/** Longer is not a token this service signed (an EdDSA token is about 400 characters). */
const MAX_TOKEN_LENGTH = 4096;
const UNAUTHORIZED = 'Could not validate credentials';
const REQUIRED_CLAIMS = ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud'];

type Log = (message: string) => void;
type CryptoKey = webcrypto.CryptoKey;

interface PublicKey {
  kid: string;
  jwk: JWK;
  key: CryptoKey;
  /** Epoch ms after which the key no longer verifies; Infinity while it is not retired. */
  verifiesUntil: number;
}

interface Signer {
  kid: string;
  key: CryptoKey;
}

/** The options for the configured service (ACCESS_TOKEN_EXPIRE_MINUTES, JWT_*, KEY_ENCRYPTION_SECRET). */
export function accessTokenOptions(config: Config): AccessTokenOptions {
  const { access } = config;
  return {
    algorithm: access.jwtAlgorithm,
    ...(config.jwtSecret !== undefined ? { secret: config.jwtSecret } : {}),
    issuer: access.issuer,
    audience: access.audience,
    lifetimeSeconds: config.tokenMinutes * 60,
    ...(access.keyEncryptionSecret !== undefined ? { keyEncryptionSecret: access.keyEncryptionSecret } : {}),
  };
}

/** How long after its retirement a key still verifies, in ms. */
export function retiredGraceMs(lifetimeSeconds: number): number {
  return (lifetimeSeconds + SIGNER_REFRESH_SECONDS + RETIRED_MARGIN_SECONDS) * 1000;
}

/** A new Ed25519 key pair as a row: kid = the public key's RFC 7638 thumbprint. */
async function newKeyRow(createdAt: string, keyEncryptionSecret: string | undefined) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    algorithm: 'EdDSA',
    public_jwk: JSON.stringify({ ...publicJwk, kid, alg: 'EdDSA', use: 'sig' }),
    private_jwk: sealPrivateKey(JSON.stringify(privateJwk), kid, keyEncryptionSecret),
    created_at: createdAt,
  };
}

/**
 * Makes a new signing key and retires the keys made before it (they keep verifying, see above), then deletes the
 * keys whose tokens have all expired. Does not read any private key, so it works after KEY_ENCRYPTION_SECRET was
 * lost or changed: the new key is encrypted with the current secret. Used by `rotate()` and `keys rotate`.
 */
export async function rotateSigningKey(
  database: Database,
  options: AccessTokenOptions,
  context?: AuditContext,
): Promise<{ kid: string }> {
  if (options.algorithm !== 'EdDSA') {
    throw new Error('signing keys are for JWT_ALGORITHM=EdDSA; HS256 tokens are signed with JWT_SECRET');
  }
  const now = new Date().toISOString();
  const row = await newKeyRow(now, options.keyEncryptionSecret);
  // The new key first, so there is always a key that signs. Only keys made before it are retired: a concurrent
  // rotation cannot retire this one, and the newest key is never retired by a rotation.
  await database.unitOfWork(async (uow) => {
    const keys = new SigningKeyRepository(uow);
    await keys.create(row);
    for (const old of await keys.activeBefore(now)) await keys.retire(old.kid, now);
    // The kid is public (the JWKS lists it); the key material never leaves the table.
    await recordAudit(uow, context, { event: 'signing_key.rotated', detail: { kid: row.kid } });
  });
  await pruneExpiredKeys(database, options.lifetimeSeconds);
  return { kid: row.kid };
}

/** Deletes keys retired so long ago that no token they signed is still valid. */
async function pruneExpiredKeys(database: Database, lifetimeSeconds: number): Promise<void> {
  const keys = new SigningKeyRepository(database);
  const before = new Date(Date.now() - retiredGraceMs(lifetimeSeconds)).toISOString();
  for (const old of await keys.retiredBefore(before)) await keys.delete(old.kid);
}

export class AccessTokens {
  private publicKeys = new Map<string, PublicKey>();
  private readonly verified = new VerifiedTokens<{ exp: number; claims: AccessClaims; kid?: string }>(
    10_000,
    CLOCK_TOLERANCE_SECONDS,
  );
  private signer: Signer | undefined;
  private loadedAt = 0;
  private refreshing: Promise<void> | undefined;
  private lastKidReloadAt = 0;
  private kidReload: Promise<void> | undefined;

  private constructor(
    private readonly database: Database | undefined,
    private readonly options: AccessTokenOptions,
    private readonly log: Log,
    /** HS256 only: the shared secret, imported once. */
    private readonly hmacKey: CryptoKey | undefined,
  ) {}

  /**
   * Ready to sign and verify. EdDSA: loads the keys (making the first one when there is none) and decrypts the
   * signer's private key, so a wrong or missing KEY_ENCRYPTION_SECRET fails here; HS256: imports the secret.
   */
  static async open(database: Database, options: AccessTokenOptions, log: Log = () => {}): Promise<AccessTokens> {
    if (options.algorithm === 'HS256') {
      if (!options.secret) throw new Error('JWT_ALGORITHM=HS256 needs JWT_SECRET');
      const key = await webcrypto.subtle.importKey(
        'raw',
        new TextEncoder().encode(options.secret),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['sign', 'verify'],
      );
      return new AccessTokens(undefined, options, log, key);
    }
    if (options.algorithm !== 'EdDSA') throw new Error(`unsupported access-token algorithm ${options.algorithm}`);
    if (options.keyEncryptionSecret === undefined) {
      log(
        'WARNING: KEY_ENCRYPTION_SECRET is not set: private signing keys are stored unencrypted in the database ' +
          '(anyone who can read the signing_keys table can sign access tokens)',
      );
    }
    const tokens = new AccessTokens(database, options, log, undefined);
    await pruneExpiredKeys(database, options.lifetimeSeconds);
    await tokens.load();
    return tokens;
  }

  /** A new access token for this user and session, valid for the configured lifetime. */
  async sign(sub: string, sid: string): Promise<{ token: string; expiresIn: number }> {
    const { issuer, audience, lifetimeSeconds } = this.options;
    const iat = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ sid })
      .setSubject(sub)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + lifetimeSeconds)
      .setJti(randomUUID());
    if (this.hmacKey) {
      const token = await jwt.setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE }).sign(this.hmacKey);
      return { token, expiresIn: lifetimeSeconds };
    }
    if (this.stale()) await this.refresh();
    const signer = this.signer!;
    const token = await jwt
      .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: ACCESS_TOKEN_TYPE })
      .sign(signer.key);
    return { token, expiresIn: lifetimeSeconds };
  }

  /** The claims of a valid access token; UnauthorizedError for anything else, whatever the reason. */
  async verify(token: string): Promise<AccessClaims> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new UnauthorizedError(UNAUTHORIZED);
    const known = this.verified.get(token);
    // A cached verdict holds while the key that signed the token still verifies (it may have been retired).
    if (known && (known.kid === undefined || (this.publicKeys.get(known.kid)?.verifiesUntil ?? 0) > Date.now())) {
      return known.claims;
    }
    if (this.database && this.stale()) void this.refresh();
    try {
      const { payload, protectedHeader } = await jwtVerify(
        token,
        this.hmacKey ?? ((header) => this.publicKeyFor(header)),
        {
          algorithms: [this.options.algorithm],
          issuer: this.options.issuer,
          audience: this.options.audience,
          typ: ACCESS_TOKEN_TYPE,
          requiredClaims: REQUIRED_CLAIMS,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        },
      );
      const { sub, sid, jti, iat, exp } = payload;
      if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') throw new Error('claims');
      if (!sub || !sid || !jti || typeof iat !== 'number' || typeof exp !== 'number') throw new Error('claims');
      const claims = { sub, sid, jti, iat, exp };
      this.verified.set(token, { exp, claims, ...(protectedHeader.kid ? { kid: protectedHeader.kid } : {}) });
      return claims;
    } catch {
      throw new UnauthorizedError(UNAUTHORIZED);
    }
  }

  /**
   * The public keys that still verify, as a JWK Set (kid, alg, use); empty for HS256. Read from the database on
   * every call: another process (or `keys rotate`) may have started signing with a key this one has not loaded
   * yet, and a verifier fetching the set must find it whichever process answers. Verifiers cache the set
   * (Cache-Control max-age), so this costs one small query per fetch, not per token.
   */
  async jwks(): Promise<{ keys: JWK[] }> {
    if (!this.database) return { keys: [] };
    await this.refresh();
    const now = Date.now();
    return {
      keys: [...this.publicKeys.values()].filter((k) => k.verifiesUntil > now).map((k) => ({ ...k.jwk })),
    };
  }

  /** Makes a new signing key, used by this process at once (by the others within SIGNER_REFRESH_SECONDS). */
  async rotate(): Promise<{ kid: string }> {
    if (!this.database)
      throw new Error('signing keys are for JWT_ALGORITHM=EdDSA; HS256 tokens are signed with JWT_SECRET');
    const result = await rotateSigningKey(this.database, this.options);
    await this.load();
    return result;
  }

  private stale(): boolean {
    return Date.now() - this.loadedAt > SIGNER_REFRESH_SECONDS * 1000;
  }

  /** One reload at a time; a failure keeps the keys already loaded (and is logged). */
  private refresh(): Promise<void> {
    this.refreshing ??= this.load()
      .catch((error: unknown) => this.log(`could not reload the signing keys: ${(error as Error).message}`))
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async publicKeyFor(header: JWTHeaderParameters): Promise<CryptoKey> {
    const kid = header.kid;
    if (typeof kid !== 'string') throw new Error('no kid');
    let found = this.publicKeys.get(kid);
    if (!found) {
      await this.reloadForUnknownKid();
      found = this.publicKeys.get(kid);
    }
    if (!found || found.verifiesUntil <= Date.now()) throw new Error('unknown or expired kid');
    return found.key;
  }

  /** Every caller with an unknown kid shares the next reload, and reloads start at most once a second. */
  private reloadForUnknownKid(): Promise<void> {
    this.kidReload ??= (async () => {
      const wait = this.lastKidReloadAt + UNKNOWN_KID_RELOAD_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      this.lastKidReloadAt = Date.now();
      await this.refresh();
    })().finally(() => {
      this.kidReload = undefined;
    });
    return this.kidReload;
  }

  /**
   * Reads the keys: imports public keys not seen before, and the signer's private key when the signer changed.
   * With no key that is not retired (a fresh database), makes one. Two processes starting together may both
   * make one: both rows are valid keys, both processes then read the set again and sign with the newer one.
   */
  private async load(): Promise<void> {
    const database = this.database!;
    const repository = new SigningKeyRepository(database);
    let rows = await repository.all();
    if (!rows.some((k) => k.retired_at === null)) {
      await repository.create(await newKeyRow(new Date().toISOString(), this.options.keyEncryptionSecret));
      rows = await repository.all();
    }
    const grace = retiredGraceMs(this.options.lifetimeSeconds);
    const next = new Map<string, PublicKey>();
    for (const row of rows) {
      if (row.algorithm !== 'EdDSA') continue;
      const verifiesUntil = row.retired_at === null ? Number.POSITIVE_INFINITY : Date.parse(row.retired_at) + grace;
      const known = this.publicKeys.get(row.kid);
      if (known) {
        next.set(row.kid, { ...known, verifiesUntil });
        continue;
      }
      const jwk = JSON.parse(row.public_jwk) as JWK;
      const key = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
      next.set(row.kid, { kid: row.kid, jwk, key, verifiesUntil });
    }
    // The public keys first: a signer that cannot be read (see below) must not keep this process from verifying.
    this.publicKeys = next;
    this.loadedAt = Date.now();
    // Newest first (created_at desc, then kid): the first key that is not retired signs.
    const newest: SigningKey | undefined = rows.find((k) => k.retired_at === null && k.algorithm === 'EdDSA');
    if (!newest) throw new Error('no EdDSA signing key in signing_keys');
    if (this.signer?.kid !== newest.kid) {
      const stored = await repository.privateKey(newest.kid);
      if (stored === undefined) throw new Error(`signing key ${newest.kid} disappeared while loading`);
      const jwk = JSON.parse(openPrivateKey(stored, newest.kid, this.options.keyEncryptionSecret)) as JWK;
      this.signer = { kid: newest.kid, key: (await importJWK(jwk, 'EdDSA')) as CryptoKey };
    }
  }
}

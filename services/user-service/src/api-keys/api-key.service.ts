import { createHash, randomBytes } from 'node:crypto';
import { type DataStore, ForeignKeyViolationError } from '@user-service/data';
import { type ApiKeyIdentity, SCOPES, type Scope } from '../access/principal.js';
import { type AuditContext, recordAudit } from '../audit/audit-events.js';
import { ConflictError, conflictOn, InvalidInputError, NotFoundError } from '../errors.js';
import { type ApiKey, ApiKeyRepository } from './api-key.repository.js';
import { API_KEY_NAME_MAX_LENGTH, API_KEY_PREFIX_LENGTH } from './api-key.table.js';

export type { ApiKey } from './api-key.repository.js';

/** What a caller asks for; checked here whoever calls (the API's schema checks the same, earlier). */
export interface NewApiKeyInput {
  name: string;
  scopes: readonly string[];
  /** RFC 3339 date-time in the future; absent or null: the key does not expire. */
  expires_at?: string | null;
}

/** A key as its creation answers it: the only time the secret is ever shown. */
export type CreatedApiKey = ApiKey & { secret: string };

export const API_KEY_SECRET_PREFIX = 'usk_';
const SECRET_BYTES = 32;
/** `usk_` and 32 random bytes in unpadded base64url (43 characters): 47 characters in all. */
export const API_KEY_SECRET_LENGTH = API_KEY_SECRET_PREFIX.length + 43;
const SECRET_SHAPE = /^usk_[A-Za-z0-9_-]{43}$/;
/** `last_used_at` is written at most once per key in this interval. */
export const LAST_USED_INTERVAL_MS = 60_000;

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/**
 * SHA-256, hex. A secret of 256 random bits cannot be guessed or brute-forced from its hash, so a slow password
 * hash would only cost every request time; a fast one also lets the lookup be an equality on a unique index.
 */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * API keys for services that call without a user: created by a superuser with scopes, shown once, stored as a
 * hash, listed, revoked. `authenticate` is the access layer's check of a presented secret.
 */
export class ApiKeyService {
  private readonly keys: ApiKeyRepository;
  private readonly now: () => Date;
  /** When this process last recorded a use of each key (ms): the throttle of last_used_at writes. */
  private readonly lastRecorded = new Map<string, number>();
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly store: DataStore,
    options: { now?: () => Date } = {},
  ) {
    this.keys = new ApiKeyRepository(store);
    this.now = options.now ?? (() => new Date());
  }

  /** Creates a key with a new random secret; the answer carries the secret, which is never stored or shown again. */
  async create(input: NewApiKeyInput, createdBy: string | null, context?: AuditContext): Promise<CreatedApiKey> {
    const now = this.now();
    const name = checkedName(input.name);
    const scopes = checkedScopes(input.scopes);
    const expires_at = checkedExpiry(input.expires_at, now);
    const secret = `${API_KEY_SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64url')}`;
    const key = await this.store
      .unitOfWork(async (uow) => {
        const created = await new ApiKeyRepository(uow).create({
          name,
          prefix: secret.slice(0, API_KEY_PREFIX_LENGTH),
          key_hash: hashApiKeySecret(secret),
          scopes,
          created_by: createdBy,
          created_at: now.toISOString(),
          expires_at,
        });
        // The key's id and name, never its secret or prefix.
        await recordAudit(uow, context, {
          event: 'api_key.created',
          detail: { api_key_id: created.id, name, scopes: [...created.scopes] },
        });
        return created;
      })
      .catch((error: unknown) => {
        // The creating user was deleted between signing in and this insert.
        if (error instanceof ForeignKeyViolationError) throw new ConflictError('The creating user no longer exists');
        // Two equal hashes would take two equal 256-bit secrets; mapped all the same rather than a 500.
        return conflictOn(error, { key_hash: 'Key collision; try again' });
      });
    return { ...key, secret };
  }

  /** Every key, newest first; revoked and expired ones included (their revoked_at/expires_at say so). */
  list(): Promise<ApiKey[]> {
    return this.keys.all();
  }

  async get(id: string): Promise<ApiKey> {
    const key = await this.keys.get(id);
    if (!key) throw new NotFoundError('API key not found');
    return key;
  }

  /** Revokes the key from now on, on every process (each use reads the row). Revoking again keeps the first time. */
  async revoke(id: string, context?: AuditContext): Promise<ApiKey> {
    await this.store.unitOfWork(async (uow) => {
      if (await new ApiKeyRepository(uow).revoke(id, this.now().toISOString())) {
        await recordAudit(uow, context, { event: 'api_key.revoked', detail: { api_key_id: id } });
      }
    });
    this.lastRecorded.delete(id);
    return this.get(id);
  }

  /**
   * The key a presented secret belongs to, when it is live; undefined when the secret is malformed (no database
   * work then), unknown, revoked or expired. Records the use in last_used_at, at most once a minute per key,
   * without waiting for the write.
   */
  async authenticate(secret: string): Promise<ApiKeyIdentity | undefined> {
    if (!SECRET_SHAPE.test(secret)) return undefined;
    const key = await this.keys.findByHash(hashApiKeySecret(secret));
    if (!key || key.revoked_at !== null) return undefined;
    const now = this.now();
    if (key.expires_at !== null && Date.parse(key.expires_at) <= now.getTime()) return undefined;
    this.recordUse(key, now);
    return { id: key.id, name: key.name, scopes: key.scopes };
  }

  /** Resolves once the last_used_at writes started so far have finished (for shutdown and tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  private recordUse(key: ApiKey, now: Date): void {
    const at = now.getTime();
    const stored = key.last_used_at === null ? Number.NEGATIVE_INFINITY : Date.parse(key.last_used_at);
    const last = Math.max(this.lastRecorded.get(key.id) ?? Number.NEGATIVE_INFINITY, stored);
    if (at - last < LAST_USED_INTERVAL_MS) return;
    // Marked before the write, so the requests arriving while it runs do not start their own.
    this.lastRecorded.set(key.id, at);
    const since = new Date(at - LAST_USED_INTERVAL_MS).toISOString();
    const write: Promise<void> = this.keys.touch(key.id, now.toISOString(), since).then(
      () => undefined,
      // last_used_at is bookkeeping: the request it records was authenticated already and must not fail or wait
      // because the write did (database busy, shutting down). Forgetting the mark lets the next use retry.
      () => {
        this.lastRecorded.delete(key.id);
      },
    );
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }
}

function checkedName(name: string): string {
  const trimmed = name.trim();
  const length = [...trimmed].length;
  if (length < 1 || length > API_KEY_NAME_MAX_LENGTH) {
    throw new InvalidInputError(['body', 'name'], `name must be 1 to ${API_KEY_NAME_MAX_LENGTH} characters, trimmed`);
  }
  return trimmed;
}

function checkedScopes(scopes: readonly string[]): Scope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) {
    throw new InvalidInputError(['body', 'scopes'], `scopes must list at least one of ${SCOPES.join(', ')}`);
  }
  const seen = new Set<string>();
  for (const [index, scope] of scopes.entries()) {
    if (!(SCOPES as readonly string[]).includes(scope)) {
      throw new InvalidInputError(['body', 'scopes', index], `Unknown scope "${scope}": one of ${SCOPES.join(', ')}`);
    }
    if (seen.has(scope)) throw new InvalidInputError(['body', 'scopes', index], `Scope "${scope}" is listed twice`);
    seen.add(scope);
  }
  return scopes as Scope[];
}

function checkedExpiry(expiresAt: string | null | undefined, now: Date): string | null {
  if (expiresAt === undefined || expiresAt === null) return null;
  const date = new Date(expiresAt);
  const year = date.getUTCFullYear();
  if (!RFC3339.test(expiresAt) || Number.isNaN(date.getTime()) || year < 1 || year > 9999) {
    throw new InvalidInputError(['body', 'expires_at'], 'expires_at must be an RFC 3339 date-time');
  }
  if (date.getTime() <= now.getTime()) {
    throw new InvalidInputError(['body', 'expires_at'], 'expires_at must be in the future');
  }
  return date.toISOString();
}

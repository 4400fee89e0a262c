/**
 * The queries API keys need, named, on the generic repository: the only code that reaches the `api_keys` table.
 * Rows come back without `key_hash` (a secret column); only `findByHash` names it, to match it by equality.
 */
import type { NewRow, RepositoryProvider, Visible } from '@user-service/data';
import { SCOPES, type Scope } from '../access/principal.js';
import { type ApiKeyRow, apiKeysTable } from './api-key.table.js';

/** An API key as everything outside this module sees it: no hash, scopes as a list. */
export type ApiKey = Omit<Visible<ApiKeyRow, 'key_hash'>, 'scopes'> & { scopes: Scope[] };
export type NewApiKey = Omit<NewRow<ApiKeyRow, 'id'>, 'scopes'> & { scopes: readonly Scope[] };

const HASH = { secrets: ['key_hash'] } as const;
/** Keys listed per query while `all()` walks the table (keys are few; this bounds one statement). */
const PAGE = 100;

/** Scopes are stored as one text column, comma-separated, in SCOPES order (one spelling per set). */
export function encodeScopes(scopes: readonly Scope[]): string {
  return SCOPES.filter((s) => scopes.includes(s)).join(',');
}

/** A stored scope this code does not know (a newer release's) grants nothing here, so it is dropped. */
export function decodeScopes(stored: string): Scope[] {
  const names = stored.split(',');
  return SCOPES.filter((s) => names.includes(s));
}

function toApiKey(row: Visible<ApiKeyRow, 'key_hash'>): ApiKey {
  return { ...row, scopes: decodeScopes(row.scopes) };
}

export class ApiKeyRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(apiKeysTable);
  }

  async create(key: NewApiKey): Promise<ApiKey> {
    return toApiKey(await this.table.create({ ...key, scopes: encodeScopes(key.scopes) }));
  }

  async get(id: string): Promise<ApiKey | undefined> {
    const row = await this.table.get(id);
    return row && toApiKey(row);
  }

  /** The key whose secret hashes to `keyHash`: an equality match on the unique hash, nothing else. */
  async findByHash(keyHash: string): Promise<ApiKey | undefined> {
    const row = await this.table.getBy({ key_hash: keyHash }, HASH);
    if (!row) return undefined;
    const { key_hash: _hash, ...visible } = row;
    return toApiKey(visible);
  }

  /** Every key, revoked ones included, newest first. */
  async all(): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    let after: string | undefined;
    do {
      const page = await this.table.list(
        after ? { after, limit: PAGE } : { orderBy: { column: 'created_at', direction: 'desc' }, limit: PAGE },
      );
      keys.push(...page.items.map(toApiKey));
      after = page.nextCursor ?? undefined;
    } while (after);
    return keys;
  }

  /** Sets revoked_at unless the key is already revoked (the first revocation's time stays); true when it did. */
  async revoke(id: string, at: string): Promise<boolean> {
    return (await this.table.updateWhere({ id, revoked_at: null }, { revoked_at: at })) > 0;
  }

  /**
   * Records a use at `at`, unless one after `since` is already recorded (so several processes together
   * still write at most about once per interval). True when it wrote.
   */
  async touch(id: string, at: string, since: string): Promise<boolean> {
    const stale = { $or: [{ last_used_at: null }, { last_used_at: { lte: since } }] };
    return (await this.table.updateWhere({ id, ...stale }, { last_used_at: at })) > 0;
  }
}

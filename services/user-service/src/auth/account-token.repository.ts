/**
 * The queries account tokens need, named, on the generic repository: the only code that reaches the
 * `account_tokens` table. Rows come back without `token_hash` (a secret column); only `findByHash` names it, to
 * match a presented token by equality.
 */
import type { NewRow, RepositoryProvider, Visible } from '@user-service/data';
import { type AccountTokenKind, type AccountTokenRow, accountTokensTable } from './account-token.table.js';

/** A token as everything outside this module sees it: no hash. */
export type AccountToken = Visible<AccountTokenRow, 'token_hash'>;
export type NewAccountToken = NewRow<AccountTokenRow, 'id' | 'used_at'>;

const HASH = { secrets: ['token_hash'] } as const;

export class AccountTokenRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(accountTokensTable);
  }

  async create(token: NewAccountToken): Promise<AccountToken> {
    return this.table.create(token);
  }

  /** The token of this kind whose secret hashes to `tokenHash`, spent or not: an equality match on the hash. */
  async findByHash(kind: AccountTokenKind, tokenHash: string): Promise<AccountToken | undefined> {
    const row = await this.table.getBy({ kind, token_hash: tokenHash }, HASH);
    if (!row) return undefined;
    const { token_hash: _hash, ...visible } = row;
    return visible;
  }

  /** How many tokens of this kind the user was sent since `since` (spent or not): the per-address limit. */
  countSince(userId: string, kind: AccountTokenKind, since: string): Promise<number> {
    return this.table.count({ user_id: userId, kind, created_at: { gte: since } });
  }

  /**
   * Spends the token: sets used_at unless it is already set, in one statement, so of several concurrent
   * callers exactly one gets true.
   */
  async spend(id: string, at: string): Promise<boolean> {
    return (await this.table.updateWhere({ id, used_at: null }, { used_at: at })) === 1;
  }

  /** Voids every unspent token of this kind the user holds (a newer one is on its way, or the password changed). */
  voidAll(userId: string, kind: AccountTokenKind, at: string): Promise<number> {
    return this.table.updateWhere({ user_id: userId, kind, used_at: null }, { used_at: at });
  }
}

/**
 * The queries signing keys need, named: the only code that reaches the `signing_keys` table. Rows come back
 * without the private key; only `privateKey` reads it (for the key that signs).
 */
import type { NewRow, Page, RepositoryProvider, Visible } from '@user-service/data';
import { type SigningKeyRow, signingKeysTable } from './signing-key.table.js';

/** A signing key as everything but the signer sees it: no private key. */
export type SigningKey = Visible<SigningKeyRow, 'private_jwk'>;

const PRIVATE = { secrets: ['private_jwk'] } as const;
const PAGE = 500;

export class SigningKeyRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(signingKeysTable);
  }

  async create(row: NewRow<SigningKeyRow, never>): Promise<SigningKey> {
    return this.table.create(row);
  }

  /** Every key, newest first (ties by kid). The table holds a handful of rows: pruned keys are deleted. */
  async all(): Promise<SigningKey[]> {
    const keys: SigningKey[] = [];
    let after: string | undefined;
    do {
      const page: Page<SigningKey> = await this.table.list({
        limit: PAGE,
        ...(after ? { after } : { orderBy: { column: 'created_at', direction: 'desc' } }),
      });
      keys.push(...page.items);
      after = page.nextCursor ?? undefined;
    } while (after);
    return keys;
  }

  /** The stored private key (encrypted or JWK JSON) of one key. */
  async privateKey(kid: string): Promise<string | undefined> {
    return (await this.table.get(kid, PRIVATE))?.private_jwk;
  }

  /** Keys not yet retired that were created before `before`: the ones a rotation retires. */
  async activeBefore(before: string): Promise<SigningKey[]> {
    const page = await this.table.list({ filters: { retired_at: null, created_at: { lt: before } }, limit: PAGE });
    return page.items;
  }

  /** Keys retired before `before`: the ones whose tokens have all expired. */
  async retiredBefore(before: string): Promise<SigningKey[]> {
    const page = await this.table.list({ filters: { retired_at: { lt: before } }, limit: PAGE });
    return page.items;
  }

  async retire(kid: string, at: string): Promise<boolean> {
    return (await this.table.update(kid, { retired_at: at })) !== undefined;
  }

  delete(kid: string): Promise<boolean> {
    return this.table.delete(kid);
  }
}

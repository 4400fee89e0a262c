import type { ApiKeyScope } from '../scopes';

/** A key as GET /api/v1/api-keys lists it (ApiKeyPublic in src/api-keys/api-key.schemas.ts): never the secret. */
export interface ApiKey {
  id: string;
  name: string;
  /** The secret's first characters, to recognise the key in a service's configuration. */
  prefix: string;
  scopes: ApiKeyScope[];
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface ApiKeyList {
  api_keys: ApiKey[];
}

/** POST /api/v1/api-keys's answer: the key and, this once, its secret. */
export interface ApiKeyCreated extends ApiKey {
  secret: string;
}

/** What a key's row says of it; "Revoked" wins over "Expired" (revoking is what someone did on purpose). */
export function apiKeyStatus(key: ApiKey, now = Date.now()): 'Active' | 'Expired' | 'Revoked' {
  if (key.revoked_at) return 'Revoked';
  if (key.expires_at && Date.parse(key.expires_at) <= now) return 'Expired';
  return 'Active';
}

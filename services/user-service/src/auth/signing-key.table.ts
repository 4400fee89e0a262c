import { defineTable, types } from '@user-service/data';

/** A row of `signing_keys`: one Ed25519 key pair that signs (or signed) access tokens. */
export interface SigningKeyRow {
  /** The RFC 7638 thumbprint of the public key (SHA-256, base64url): the `kid` in token headers and the JWKS. */
  kid: string;
  /** The JWS algorithm the key is for ('EdDSA'). */
  algorithm: string;
  /** The public key as a JWK (JSON), as published at /.well-known/jwks.json. */
  public_jwk: string;
  /** The private key: `enc:v1:...` (AES-256-GCM, KEY_ENCRYPTION_SECRET) or, without that secret, the JWK's JSON. */
  private_jwk: string;
  created_at: string;
  /** When a newer key took over signing; the key keeps verifying until the tokens it signed have expired. */
  retired_at: string | null;
}

export const signingKeysTable = defineTable<SigningKeyRow, never, 'private_jwk'>({
  name: 'signing_keys',
  primaryKey: 'kid',
  columns: {
    kid: 'string',
    algorithm: 'string',
    public_jwk: 'string',
    private_jwk: 'string',
    created_at: 'timestamp',
    retired_at: 'timestamp?',
  },
  // Never filtered, sorted or returned unless a read names it (SigningKeyRepository.privateKey).
  secret: ['private_jwk'],
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      kid: types.key(64),
      algorithm: types.string(16),
      public_jwk: types.text,
      private_jwk: types.text,
      created_at: types.timestamp,
      retired_at: types.timestamp,
    },
  },
});

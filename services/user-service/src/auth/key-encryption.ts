/**
 * Signing keys at rest. With KEY_ENCRYPTION_SECRET set, a private key is stored as
 * `enc:v1:<salt>.<iv>.<tag>.<ciphertext>` (base64url parts): AES-256-GCM under a key derived from the secret with
 * HKDF-SHA256 and a random 16-byte salt per key, a random 12-byte IV, and the key's kid as additional
 * authenticated data (a ciphertext moved to another row does not decrypt). Without the secret the private key is
 * stored as its JWK's JSON, and the service warns once at start.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';
const INFO = 'user-service signing key v1';

/** A stored key that cannot be read with the configured secret; the message names KEY_ENCRYPTION_SECRET. */
export class KeyEncryptionError extends Error {
  override name = 'KeyEncryptionError';
}

export function isEncrypted(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

function derive(secret: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, INFO, 32));
}

function aad(kid: string): Buffer {
  return Buffer.from(`signing_keys:${kid}`, 'utf8');
}

/** The private JWK's JSON as stored: encrypted when there is a secret, as it is otherwise. */
export function sealPrivateKey(jwkJson: string, kid: string, secret: string | undefined): string {
  if (secret === undefined) return jwkJson;
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', derive(secret, salt), iv);
  cipher.setAAD(aad(kid));
  const ciphertext = Buffer.concat([cipher.update(jwkJson, 'utf8'), cipher.final()]);
  const parts = [salt, iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
  return `${PREFIX}${parts.join('.')}`;
}

/** The private JWK's JSON from its stored form; throws KeyEncryptionError when the secret is missing or wrong. */
export function openPrivateKey(stored: string, kid: string, secret: string | undefined): string {
  if (!isEncrypted(stored)) return stored;
  if (secret === undefined) {
    throw new KeyEncryptionError(
      `signing key ${kid} is stored encrypted but KEY_ENCRYPTION_SECRET is not set: set the secret it was encrypted with`,
    );
  }
  const parts = stored.slice(PREFIX.length).split('.');
  const [salt, iv, tag, ciphertext] = parts.map((p) => Buffer.from(p, 'base64url'));
  if (parts.length !== 4 || !salt || !iv || !tag || !ciphertext || iv.length !== 12 || tag.length !== 16) {
    throw new KeyEncryptionError(`signing key ${kid}: the stored private key is malformed (not ${PREFIX}...)`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', derive(secret, salt), iv);
    decipher.setAAD(aad(kid));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new KeyEncryptionError(
      `KEY_ENCRYPTION_SECRET does not decrypt signing key ${kid}: set the secret it was encrypted with ` +
        '(or run `user-service keys rotate` with the new secret to make a new signing key)',
    );
  }
}

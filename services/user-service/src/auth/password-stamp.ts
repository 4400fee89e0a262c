import { createHmac } from 'node:crypto';

/**
 * A short keyed fingerprint of a user's password hash, carried in every access token (the `pwd` claim) and
 * compared with the stored hash's on every request. Changing the password (by /auth/password, an update, or a
 * reset) changes the hash, so every token issued before stops working at once, without a table of revoked
 * tokens. It is an HMAC under the server key, so the claim says nothing about the hash itself (Django's
 * session auth hash works the same way).
 */
export class PasswordStamp {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('user-service password stamp v1').digest();
  }

  of(hashedPassword: string): string {
    return createHmac('sha256', this.key).update(hashedPassword).digest('base64url').slice(0, 16);
  }
}

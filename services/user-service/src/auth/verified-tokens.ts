/**
 * Access tokens this process has already verified, so a client sending the same token on every request pays
 * for the signature check once, not per request (Ed25519 verification through WebCrypto costs about as much as
 * the rest of a get-by-id). Keyed by the whole token string: the same string is the same signed content, so
 * the earlier verdict holds; the expiry is checked again on every hit. Only verdicts are kept, never a
 * revocation decision: the session and user are still read on every request (access/authenticate.ts).
 * Bounded: the oldest entry goes when full (Map keeps insertion order).
 */
export class VerifiedTokens<Claims extends { exp: number }> {
  private readonly entries = new Map<string, Claims>();

  constructor(
    private readonly capacity = 10_000,
    private readonly toleranceSeconds = 0,
  ) {}

  get(token: string, nowSeconds = Date.now() / 1000): Claims | undefined {
    const claims = this.entries.get(token);
    if (claims === undefined) return undefined;
    if (claims.exp + this.toleranceSeconds <= nowSeconds) {
      this.entries.delete(token);
      return undefined;
    }
    return claims;
  }

  set(token: string, claims: Claims): void {
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, claims);
  }

  clear(): void {
    this.entries.clear();
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an Authorization header carries METRICS_TOKEN as a bearer token. Compared as SHA-256 digests in
 * constant time, so neither the token's length nor its prefix leaks through timing.
 */
export function metricsTokenMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  const given = createHash('sha256')
    .update(match[1] as string)
    .digest();
  return timingSafeEqual(given, createHash('sha256').update(token).digest());
}

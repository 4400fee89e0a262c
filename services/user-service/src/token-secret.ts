// Its own module so that a cluster primary, which needs only this, loads neither the database layer nor the
// password hashers' native libraries (runtime.ts imports both).
import { randomBytes } from 'node:crypto';

/** A random server key for when JWT_SECRET is unset, with the warning that goes with it. */
export function generatedTokenSecret(log: (message: string) => void): string {
  log(
    'WARNING: JWT_SECRET is not set: a random server key signs list cursors (and refresh-retry tokens) until restart; set it to keep them valid across restarts',
  );
  return randomBytes(32).toString('base64url');
}

/**
 * Test harness (never part of the service): starts the service exactly as src/main.ts does, WORKERS and all,
 * after arranging that a sign-in with the password in CRASH_UNCAUGHT_PASSWORD or CRASH_UNHANDLED_PASSWORD fails the way a bug would, in the middle of
 * its request: an exception thrown from a timer (uncaught) or a promise rejected with no handler (unhandled).
 * The request itself stays in flight a little longer, so the crash happens while it is being served. In a
 * cluster, workers are forked from this same file, so they carry the same arrangement.
 */
import { PasswordHasher } from '../../src/auth/password-hasher.js';

const UNCAUGHT_PASSWORD = process.env.CRASH_UNCAUGHT_PASSWORD;
const UNHANDLED_PASSWORD = process.env.CRASH_UNHANDLED_PASSWORD;
/** A sign-in with this password takes 5 s (as with a database that has become slow), and then fails. */
const SLOW_PASSWORD = process.env.SLOW_PASSWORD;

const verify = PasswordHasher.prototype.verify;
PasswordHasher.prototype.verify = async function (this: PasswordHasher, password: string, stored: string) {
  if (password === UNCAUGHT_PASSWORD) {
    setTimeout(() => {
      throw new Error('simulated bug: an uncaught exception while signing in');
    }, 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (password === UNHANDLED_PASSWORD) {
    void Promise.reject(new Error('simulated bug: an unhandled rejection while signing in'));
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (password === SLOW_PASSWORD) await new Promise((resolve) => setTimeout(resolve, 5_000));
  return verify.call(this, password, stored);
};

await import('../../src/main.js');

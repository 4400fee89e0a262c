/**
 * What a new password must not be: one found in a list of commonly used passwords (the ~49k of
 * @zxcvbn-ts/language-common's `passwords-common`, already lower-cased), compared without regard to case.
 * Length (8-128) is the schemas' rule; this is the one the schemas cannot say.
 */
import { createRequire } from 'node:module';
import { InvalidInputError } from '../errors.js';

// Loaded on the first check (or by warmPasswordRules after the server listens), not at start: the package
// decompresses all its dictionaries on load, about 4% of a worker's start-up. A Set: each check is one lookup.
const require = createRequire(import.meta.url);
let commonPasswords: ReadonlySet<string> | undefined;
function common(): ReadonlySet<string> {
  commonPasswords ??= new Set(
    (require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common')).dictionary[
      'passwords-common'
    ].map((p) => p.toLowerCase()),
  );
  return commonPasswords;
}

/** Loads the common-password list now, so no request pays for it. */
export function warmPasswordRules(): void {
  common();
}

export const COMMON_PASSWORD_MESSAGE =
  'This password is too common (it appears in a list of commonly used passwords); choose another';

/** True when `password` is in the common-password list, whatever its case. */
export function isCommonPassword(password: string): boolean {
  return common().has(password.toLowerCase());
}

/** Throws InvalidInputError at `loc` (a 422 on that field) when `password` is a commonly used one. */
export function assertAcceptablePassword(password: string, loc: (string | number)[]): void {
  if (isCommonPassword(password)) throw new InvalidInputError(loc, COMMON_PASSWORD_MESSAGE);
}

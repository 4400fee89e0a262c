/**
 * What a new password must not be: one found in a list of commonly used passwords (the ~49k of
 * @zxcvbn-ts/language-common's `passwords-common`, already lower-cased), compared without regard to case.
 * Length (8-128) is the schemas' rule; this is the one the schemas cannot say.
 */
import { dictionary } from '@zxcvbn-ts/language-common';
import { InvalidInputError } from '../errors.js';

// Loaded once, at module load: a Set, so each check is one hash lookup.
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));

export const COMMON_PASSWORD_MESSAGE =
  'This password is too common (it appears in a list of commonly used passwords); choose another';

/** True when `password` is in the common-password list, whatever its case. */
export function isCommonPassword(password: string): boolean {
  return COMMON_PASSWORDS.has(password.toLowerCase());
}

/** Throws InvalidInputError at `loc` (a 422 on that field) when `password` is a commonly used one. */
export function assertAcceptablePassword(password: string, loc: (string | number)[]): void {
  if (isCommonPassword(password)) throw new InvalidInputError(loc, COMMON_PASSWORD_MESSAGE);
}

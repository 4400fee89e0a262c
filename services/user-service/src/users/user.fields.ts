/**
 * The rules of each user field, written once: the API's schemas (user.schemas.ts) are built from these, the
 * import validates its records with those same schemas, and the table's declared schema (user.table.ts, what
 * `migrate new --autogenerate` and `migrate check` compare) reads its column sizes from here. Migrations
 * already written keep their literal sizes: they are history.
 */

/** RFC 5321's limit for an address; also the `email` column's size. */
export const EMAIL_MAX_LENGTH = 320;
export const USERNAME_MIN_LENGTH = 3;
export const USERNAME_MAX_LENGTH = 64;
/** Letters, digits, ".", "_" and "-"; stored lower-case. */
export const USERNAME_PATTERN = '^[A-Za-z0-9._-]+$';
export const FULL_NAME_MAX_LENGTH = 255;
// Passwords are never truncated: 128 characters is the limit, and a longer one is refused, not cut.
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;
/** The `hashed_password` column's size: every argon2id and bcrypt hash the hasher writes or verifies fits. */
export const HASHED_PASSWORD_MAX_LENGTH = 255;

import { ConfigError } from '../config.js';
import { ConflictError, InvalidInputError } from '../errors.js';
import type { UserService } from '../users/user.service.js';

/**
 * FIRST_SUPERUSER_EMAIL / FIRST_SUPERUSER_PASSWORD: on start, when no active superuser exists, create one, so
 * a fresh deployment can be administered without a shell. Does nothing once any active superuser exists (the
 * variables can stay set). Workers starting together may race: the loser meets the unique email and stops.
 * Returns what it did, for the start-up log (never the password).
 */
export async function ensureFirstSuperuser(
  users: UserService,
  account: { email: string; password: string } | undefined,
): Promise<string | undefined> {
  if (!account) return undefined;
  if ((await users.list({ skip: 0, limit: 1, activeOnly: true, isSuperuser: true })).users.length > 0) return undefined;
  try {
    // The operator chose the address: verified, so REQUIRE_VERIFIED_EMAIL does not lock the first admin out.
    const user = await users.create({
      email: account.email,
      password: account.password,
      is_superuser: true,
      is_verified: true,
    });
    return `created the first superuser ${user.email} (FIRST_SUPERUSER_EMAIL)`;
  } catch (error) {
    if (error instanceof ConflictError) {
      return `FIRST_SUPERUSER_EMAIL ${account.email} is taken and no active superuser exists: promote a user with "user-service create-user --superuser" or PATCH is_superuser`;
    }
    if (error instanceof InvalidInputError) throw new ConfigError(`FIRST_SUPERUSER_PASSWORD: ${error.message}`);
    throw error;
  }
}

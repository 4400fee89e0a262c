import { ForbiddenError, InvalidInputError, NotFoundError, UnauthorizedError } from '../errors.js';
import type { User, UserCredentials, UserService } from '../users/user.service.js';
import type { PasswordHasher } from './password-hasher.js';
import type { PasswordStamp } from './password-stamp.js';

/** Who signed in, and the stamp of the password they signed in with (see PasswordStamp). */
export interface Authenticated {
  user: User;
  stamp: string;
}

const BAD_CREDENTIALS = 'Incorrect username or password';

/** Login and password rules. Tokens are signed at the HTTP edge; this class only decides who is who. */
export class AuthService {
  // Verified against when the user does not exist, so an unknown user costs as long as a wrong password.
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly users: UserService,
    private readonly hasher: PasswordHasher,
    private readonly stamps: PasswordStamp,
  ) {}

  /** The user with these credentials; upgrades a bcrypt or weaker argon2 hash on success. */
  async authenticate(login: string, password: string): Promise<Authenticated> {
    const row = await this.users.credentials(login.includes('@') ? { email: login } : { username: login });
    this.dummyHash ??= this.hasher.hash('dummy password for timing');
    const result = await this.hasher.verify(password, row?.hashed_password ?? (await this.dummyHash));
    if (!row || !result.ok) throw new UnauthorizedError(BAD_CREDENTIALS);
    if (!row.is_active) throw new ForbiddenError('Inactive user');
    if (result.upgradedHash) await this.users.replaceHash(row.id, result.upgradedHash);
    return { user: withoutHash(row), stamp: this.stamps.of(result.upgradedHash ?? row.hashed_password) };
  }

  /**
   * The user a verified access token speaks for: it must exist, be active, and have the password the token
   * was issued under (a token from before a password change is refused).
   */
  async principal(userId: string, stamp: unknown): Promise<User> {
    const row = await this.users.credentials({ id: userId });
    if (!row?.is_active || typeof stamp !== 'string' || stamp !== this.stamps.of(row.hashed_password)) {
      throw new UnauthorizedError('Could not validate credentials');
    }
    return withoutHash(row);
  }

  async changePassword(userId: string, current: string, next: string): Promise<void> {
    const row = await this.users.credentials({ id: userId });
    if (!row) throw new NotFoundError('User not found');
    if (!(await this.hasher.verify(current, row.hashed_password)).ok) {
      throw new InvalidInputError(['body', 'current_password'], 'Current password is incorrect');
    }
    await this.users.update(userId, { password: next });
  }
}

/** The user a credentials read returned, once its hash has done its job. */
function withoutHash(row: UserCredentials): User {
  const { hashed_password: _used, ...user } = row;
  return user;
}

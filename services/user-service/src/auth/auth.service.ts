import type { DataStore } from '@user-service/data';
import { type AuditContext, recordAudit } from '../audit/audit-events.js';
import {
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../errors.js';
import { publishLogin } from '../observability/channels.js';
import { assertAcceptablePassword } from '../users/password-rules.js';
import {
  normalizeEmail,
  normalizeUsername,
  type User,
  type UserCredentials,
  type UserService,
} from '../users/user.service.js';
import type { LoginGuard } from './login-guard.js';
import type { PasswordHasher } from './password-hasher.js';

/** Who signed in. */
export interface Authenticated {
  user: User;
}

const BAD_CREDENTIALS = 'Incorrect username or password';
export const UNVERIFIED_EMAIL =
  'Email address not verified: follow the link mailed to you, or ask for a new one at POST /api/v1/auth/request-verify-token';

/** Why a login with a known user failed, as the audit log records it. */
type FailureReason = 'bad_credentials' | 'inactive' | 'unverified';

/** Login and password rules. Tokens are signed at the HTTP edge; this class only decides who is who. */
export class AuthService {
  // Verified against when the user does not exist, so an unknown user costs as long as a wrong password.
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly users: UserService,
    private readonly hasher: PasswordHasher,
    private readonly guard: LoginGuard,
    private readonly store: DataStore,
    private readonly options: { requireVerifiedEmail?: boolean } = {},
  ) {}

  /**
   * The user with these credentials; upgrades a bcrypt or weaker argon2 hash on success. Refused (429) while
   * the account or the client IP is locked out (see LoginGuard), before the password is looked at. A login
   * naming no user is counted and answered exactly as a wrong password, after the same hashing work. Each
   * failure is recorded in the audit log with its reason, in the unit of work that counts it; the failure that
   * locks an account is followed by `login.locked_out` (refusals while locked are not recorded one by one).
   */
  async authenticate(login: string, password: string, ip: string, context?: AuditContext): Promise<Authenticated> {
    const key = login.includes('@') ? { email: normalizeEmail(login) } : { username: normalizeUsername(login) };
    const row = await this.users.credentials(key);
    // Failures count against the user (however it was named), else against the login as given, normalised;
    // the prefix keeps a login that spells some user's id from counting against that user.
    const account = row ? row.id : `login:${'email' in key ? key.email : key.username}`;
    await this.guard.assertAllowed(account, ip).catch((error: unknown) => {
      if (error instanceof TooManyRequestsError) publishLogin('locked_out');
      throw error;
    });
    // Made on first use; refused when the hash queue is full (503), in which case the next login tries again.
    this.dummyHash ??= this.hasher.hash('dummy password for timing').catch((error: unknown) => {
      this.dummyHash = undefined;
      throw error;
    });
    const result = await this.hasher.verify(password, row?.hashed_password ?? (await this.dummyHash));
    if (!row || !result.ok) {
      await this.store.unitOfWork(async (uow) => {
        await this.guard.recordFailure(account, ip, uow);
        await recordAudit(uow, context, {
          event: 'login.failed',
          target: row?.id ?? null,
          detail: { reason: 'bad_credentials' },
        });
        // Asked for an unknown login too, so it costs what a known one does; recorded with the failure that
        // caused it (while locked, attempts are refused before they get here, so this is the locking one).
        const locked = await this.guard.accountLocked(account, uow);
        if (row && locked) await recordAudit(uow, context, { event: 'login.locked_out', target: row.id });
      });
      await this.guard.pruneNowAndThen();
      publishLogin('bad_credentials');
      throw new UnauthorizedError(BAD_CREDENTIALS);
    }
    if (!row.is_active) {
      await this.refused(row.id, 'inactive', context);
      throw new ForbiddenError('Inactive user');
    }
    if (this.options.requireVerifiedEmail && !row.is_verified) {
      await this.refused(row.id, 'unverified', context);
      throw new ForbiddenError(UNVERIFIED_EMAIL);
    }
    await this.guard.recordSuccess(account);
    publishLogin('success');
    if (result.upgradedHash) await this.users.replaceHash(row.id, result.upgradedHash);
    return { user: withoutHash(row) };
  }

  /** The right password, and still no entry: recorded, not counted against the account. */
  private async refused(userId: string, reason: FailureReason, context: AuditContext | undefined): Promise<void> {
    publishLogin(reason);
    await recordAudit(this.store, context, { event: 'login.failed', target: userId, detail: { reason } });
  }

  /** Refuses (422) when `password` is not the user's current password: a confirmation before a drastic step. */
  confirmPassword(userId: string, password: string): Promise<void> {
    return this.assertCurrentPassword(userId, password, ['body', 'password'], 'Password is incorrect');
  }

  /** Checks the current password, then changes it; the user's other sessions end, `keepSession` stays. */
  async changePassword(
    userId: string,
    current: string,
    next: string,
    keepSession?: string,
    context?: AuditContext,
  ): Promise<void> {
    await this.assertCurrentPassword(userId, current, ['body', 'current_password'], 'Current password is incorrect');
    // Checked here too, so a refusal names the field this endpoint calls the password.
    assertAcceptablePassword(next, ['body', 'new_password']);
    await this.users.update(userId, { password: next }, { context, ...(keepSession ? { keepSession } : {}) });
  }

  /** 422 on `loc` unless `password` is the user's current one (404 when the user is gone). */
  private async assertCurrentPassword(
    userId: string,
    password: string,
    loc: (string | number)[],
    message: string,
  ): Promise<void> {
    const row = await this.users.credentials({ id: userId });
    if (!row) throw new NotFoundError('User not found');
    if (!(await this.hasher.verify(password, row.hashed_password)).ok) throw new InvalidInputError(loc, message);
  }
}

/** The user a credentials read returned, once its hash has done its job. */
function withoutHash(row: UserCredentials): User {
  const { hashed_password: _used, ...user } = row;
  return user;
}

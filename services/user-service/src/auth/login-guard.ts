/**
 * Login protection, in the database so that it holds across processes and machines: failed logins are
 * counted per account and per client IP, one row per failure (see login-failure.table.ts), so concurrent
 * failures cannot be lost the way a read-modify-write counter loses them.
 *
 * - `accountMaxFailures` failures of one account within `windowMinutes` lock it for `windowMinutes`, counted
 *   from the failure that reached the limit. While locked every attempt is refused before any password check
 *   (the right password too) and is not counted.
 * - `ipMaxFailures` failures from one IP within the window refuse that IP the same way.
 * - A successful login forgets the account's failures (not the IP's).
 *
 * Both limits come down to one indexed query each: the subject's latest failures (at most 2N - 1, from the
 * last two windows), in which the guard looks for the latest failure inside the window that was the N-th
 * within one window; the subject is refused until one window after it. Rows older than two windows count
 * for nothing and are pruned (see `prune`).
 *
 * Not in Redis, even with REDIS_URL set (issue 12): every instance already shares the database, a failure is a
 * row written in the failing login's own unit of work (with its audit event), and the lock is read in the same
 * query that decides it, so concurrent failures on any number of instances all count, and the lockout holds
 * while Redis is down or restarted (a Redis counter would reset with it, or need a fallback that counts less).
 * A failed login is already slow (a password hash), so one more indexed query costs nothing that matters.
 */
import { createHash } from 'node:crypto';
import type { DataStore, RepositoryProvider } from '@user-service/data';
import type { LoginLimits } from '../config.js';
import { TooManyRequestsError } from '../errors.js';
import { LoginFailureRepository } from './login-failure.repository.js';
import { LOGIN_FAILURE_SUBJECT_MAX_LENGTH, type LoginFailureKind } from './login-failure.table.js';

/** How often one process deletes expired rows (at most), on a failed login. */
export const PRUNE_INTERVAL_MS = 60_000;

export class LoginGuard {
  private readonly failures: LoginFailureRepository;
  private readonly windowMs: number;
  private lastPrune = Number.NEGATIVE_INFINITY;

  /** `now`: the clock (ms since the epoch); injectable so tests can move time. */
  constructor(
    store: DataStore,
    private readonly limits: LoginLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.failures = new LoginFailureRepository(store);
    this.windowMs = limits.windowMinutes * 60_000;
  }

  /**
   * Throws TooManyRequestsError, with the seconds until the first attempt that would be let through, when
   * the account is locked or the IP is over its limit. `account` is the subject AuthService counts against
   * (the user's id, or the login naming no user).
   */
  async assertAllowed(account: string, ip: string): Promise<void> {
    const now = this.now();
    const [accountUntil, ipUntil] = await Promise.all([
      this.refusedUntil('account', subjectKey(account), this.limits.accountMaxFailures, now),
      this.refusedUntil('ip', ipKey(ip), this.limits.ipMaxFailures, now),
    ]);
    const until = Math.max(accountUntil ?? 0, ipUntil ?? 0);
    if (until > now) {
      const seconds = Math.max(1, Math.ceil((until - now) / 1000));
      throw new TooManyRequestsError(seconds, `Too many failed login attempts; try again in ${seconds} seconds`);
    }
  }

  /**
   * Counts one failed attempt against the account and the IP, in `within` when given (the unit of work that
   * also records the audit event); now and then prunes expired rows (outside it: a unit of work on SQLite holds
   * the only connection, so nothing else may run on the pool inside it).
   */
  async recordFailure(account: string, ip: string, within?: RepositoryProvider): Promise<void> {
    const now = this.now();
    const at = new Date(now).toISOString();
    const failures = within ? new LoginFailureRepository(within) : this.failures;
    await failures.record('account', subjectKey(account), at);
    await failures.record('ip', ipKey(ip), at);
    if (!within) await this.pruneNowAndThen();
  }

  /** Prunes expired rows, at most once a PRUNE_INTERVAL_MS per process; call after recording failures. */
  async pruneNowAndThen(): Promise<void> {
    const now = this.now();
    if (now - this.lastPrune < PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    await this.prune();
  }

  /**
   * Whether the account is locked right now (just after a failure: whether that failure locked it); read in
   * `within` when given (the unit of work that recorded the failure, which sees it).
   */
  async accountLocked(account: string, within?: RepositoryProvider): Promise<boolean> {
    const now = this.now();
    const failures = within ? new LoginFailureRepository(within) : this.failures;
    const until = await this.refusedUntil(
      'account',
      subjectKey(account),
      this.limits.accountMaxFailures,
      now,
      failures,
    );
    return until !== undefined && until > now;
  }

  /** A successful login: the account's failures are forgotten (the IP's stay counted). */
  async recordSuccess(account: string): Promise<void> {
    await this.failures.forget('account', subjectKey(account));
  }

  /**
   * Deletes every failure older than two windows (no lock still running depends on them); returns how many.
   * Run by `recordFailure` at most once a PRUNE_INTERVAL_MS per process; one indexed delete.
   */
  prune(): Promise<number> {
    return this.failures.pruneUntil(new Date(this.now() - 2 * this.windowMs).toISOString());
  }

  /**
   * When `subject` stops being refused (ms), or undefined when it is not. It is refused for the window after
   * the latest failure that reached the limit (`max` failures within one window ending at it), and that
   * failure is itself in the window. Checking every failure in the window needs its `max - 1` predecessors
   * too: at most `2 * max - 1` rows, newest first, from the last two windows.
   */
  private async refusedUntil(
    kind: LoginFailureKind,
    subject: string,
    max: number,
    now: number,
    failures: LoginFailureRepository = this.failures,
  ): Promise<number | undefined> {
    const since = new Date(now - 2 * this.windowMs).toISOString();
    const times = (await failures.latestSince(kind, subject, since, 2 * max - 1)).map((t) => Date.parse(t));
    for (let i = 0; i < times.length; i++) {
      const failure = times[i] as number;
      if (failure <= now - this.windowMs) break;
      const limitReachedAt = times[i + max - 1];
      if (limitReachedAt !== undefined && limitReachedAt > failure - this.windowMs) return failure + this.windowMs;
    }
    return undefined;
  }
}

/** A subject as stored: as it is when it fits the column, else a digest of it (still one subject per value). */
function subjectKey(subject: string): string {
  return subject.length <= LOGIN_FAILURE_SUBJECT_MAX_LENGTH
    ? subject
    : `sha256:${createHash('sha256').update(subject).digest('hex')}`;
}

/** An IPv4 address reached over IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address. */
function ipKey(ip: string): string {
  const lower = ip.trim().toLowerCase();
  return subjectKey(lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower);
}

/**
 * The queries login protection needs, named, on the generic repository: the only code that reaches the
 * `login_failures` table. Built over whatever executor the caller hands in; it never commits.
 */
import type { RepositoryProvider } from '@user-service/data';
import { type LoginFailureKind, loginFailuresTable } from './login-failure.table.js';

export class LoginFailureRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(loginFailuresTable);
  }

  /** Records one failed attempt against `subject` at `at` (an ISO-8601 time). */
  async record(kind: LoginFailureKind, subject: string, at: string): Promise<void> {
    await this.table.create({ kind, subject, created_at: at });
  }

  /** The times (ISO-8601) of `subject`'s latest failures after `since`, newest first, at most `limit`. */
  async latestSince(kind: LoginFailureKind, subject: string, since: string, limit: number): Promise<string[]> {
    const page = await this.table.list({
      filters: { kind, subject, created_at: { gt: since } },
      orderBy: { column: 'created_at', direction: 'desc' },
      limit,
    });
    return page.items.map((row) => row.created_at);
  }

  /** How many failures `subject` has after `since`. */
  countSince(kind: LoginFailureKind, subject: string, since: string): Promise<number> {
    return this.table.count({ kind, subject, created_at: { gt: since } });
  }

  /** Forgets every failure of `subject` (a successful login resets its account's counter). */
  forget(kind: LoginFailureKind, subject: string): Promise<number> {
    return this.table.deleteWhere({ kind, subject });
  }

  /** Deletes every failure at or before `before`: rows no window counts any more. */
  pruneUntil(before: string): Promise<number> {
    return this.table.deleteWhere({ created_at: { lte: before } });
  }
}

/**
 * The queries the outbox needs, named, on the generic repository: the only code that reaches the `outbox` table.
 * Rows come back without their bodies (secret columns); only `bodies` names them, for the sender.
 *
 * A sender owns a mail while its claim lasts: `claimed_by` holds the claim's random id and `locked_until` its
 * end. Every write a sender makes afterwards is a compare-and-set on `claimed_by`, so a sender whose lease ran
 * out (a stalled process) can never overwrite what the sender that took the mail over did.
 */
import type { NewRow, RepositoryProvider, Visible } from '@user-service/data';
import { type OutboxRow, type OutboxStatus, outboxTable } from './outbox.table.js';

/** A mail as everything but the sender sees it: no body. */
export type OutboxMail = Visible<OutboxRow, 'text_body' | 'html_body'>;

const BODIES = { secrets: ['text_body', 'html_body'] } as const;

/** What a failed try writes: the next try's time, or `failed` when the attempts are spent. */
export interface RetryPlan {
  attempts: number;
  status: Extract<OutboxStatus, 'pending' | 'failed'>;
  availableAt: string;
  lastError: string;
}

export class OutboxRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(outboxTable);
  }

  async add(mail: NewRow<OutboxRow, 'id'>): Promise<OutboxMail> {
    return this.table.create(mail);
  }

  async get(id: string): Promise<OutboxMail | undefined> {
    return this.table.get(id);
  }

  /**
   * Claims up to `limit` pending mails that are due and not held by a live claim, oldest due first, for
   * `claimId` until `until`. Each mail goes to exactly one claimer (Repository.claim).
   */
  async claimDue(now: string, until: string, claimId: string, limit: number): Promise<OutboxMail[]> {
    return this.table.claim({
      filters: {
        status: 'pending',
        available_at: { lte: now },
        $or: [{ locked_until: null }, { locked_until: { lt: now } }],
      },
      orderBy: { column: 'available_at', direction: 'asc' },
      limit,
      patch: { locked_until: until, claimed_by: claimId },
    });
  }

  /** Extends a claim the caller still holds; false when it lost the mail (its lease ran out and another took it). */
  async renew(id: string, claimId: string, until: string): Promise<boolean> {
    return (await this.table.updateWhere({ id, claimed_by: claimId, status: 'pending' }, { locked_until: until })) > 0;
  }

  /** The bodies, for the sender about to send; undefined when they are gone (the mail was sent meanwhile). */
  async bodies(id: string): Promise<{ text: string; html: string } | undefined> {
    const row = await this.table.get(id, BODIES);
    if (!row || row.text_body === null || row.html_body === null) return undefined;
    return { text: row.text_body, html: row.html_body };
  }

  /** Marks the mail sent and forgets its bodies (they hold the token); false when the claim was lost. */
  async markSent(id: string, claimId: string, attempts: number, sentAt: string): Promise<boolean> {
    const matched = await this.table.updateWhere(
      { id, claimed_by: claimId, status: 'pending' },
      {
        status: 'sent',
        sent_at: sentAt,
        attempts,
        text_body: null,
        html_body: null,
        locked_until: null,
        claimed_by: null,
        last_error: null,
      },
    );
    return matched > 0;
  }

  /** Records a failed try and when to try again (or that the mail failed); false when the claim was lost. */
  async markFailedTry(id: string, claimId: string, plan: RetryPlan): Promise<boolean> {
    const matched = await this.table.updateWhere(
      { id, claimed_by: claimId, status: 'pending' },
      {
        status: plan.status,
        attempts: plan.attempts,
        available_at: plan.availableAt,
        last_error: plan.lastError,
        locked_until: null,
        claimed_by: null,
      },
    );
    return matched > 0;
  }

  /** Gives a claimed mail back untried (the sender is stopping), for any sender to take at once. */
  async release(id: string, claimId: string): Promise<void> {
    await this.table.updateWhere(
      { id, claimed_by: claimId, status: 'pending' },
      { locked_until: null, claimed_by: null },
    );
  }

  /**
   * Deletes the mails that are done with (sent, or failed for good) and were last tried before `before`; returns
   * how many. The status/available_at index serves it: a sent or failed mail's available_at is its last try.
   */
  prune(before: string): Promise<number> {
    return this.table.deleteWhere({ status: { in: ['sent', 'failed'] }, available_at: { lt: before } });
  }

  /** Mails not delivered (pending and failed), oldest first, at most `limit`. */
  async undelivered(limit: number): Promise<OutboxMail[]> {
    const page = await this.table.list({
      filters: { status: { in: ['pending', 'failed'] } },
      orderBy: { column: 'created_at', direction: 'asc' },
      limit,
    });
    return page.items;
  }

  /**
   * Puts mails back in line to be sent now, with their attempts reset: the failed ones, and pending ones no
   * sender holds right now (one being sent is left alone, or a second sender could take it and send it twice).
   * `ids` limits it to those mails; sent mails are never touched. Returns how many were put back.
   */
  async retry(now: string, ids?: readonly string[]): Promise<number> {
    const notHeld = { $or: [{ locked_until: null }, { locked_until: { lt: now } }] };
    return this.table.updateWhere(
      {
        ...(ids ? { id: { in: ids } } : {}),
        $or: [{ status: 'failed' }, { status: 'pending', ...notHeld }],
      },
      { status: 'pending', attempts: 0, available_at: now, locked_until: null, claimed_by: null, last_error: null },
    );
  }
}

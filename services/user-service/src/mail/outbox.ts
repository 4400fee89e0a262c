/**
 * The transactional outbox. A mail is rendered and written to the `outbox` table inside the caller's unit of
 * work, the same transaction that stores the token it carries: both are committed or neither is, so a crash or
 * an SMTP outage after the commit loses no mail, and a rolled-back request sends none. The sender
 * (outbox-sender.ts), running in every process, delivers it afterwards.
 */
import type { DataStore, RepositoryProvider } from '@user-service/data';
import type { MailConfig } from '../config.js';
import { type OutboxMail, OutboxRepository } from './outbox.repository.js';
import { type MailTemplate, renderMail } from './templates.js';

export type { OutboxMail } from './outbox.repository.js';
export type { MailTemplate } from './templates.js';

export interface OutgoingMail {
  to: string;
  template: MailTemplate;
  /** The user's name for the greeting (escaped in the HTML body), or null. */
  name: string | null;
  token: string;
  /** How long the token works, stated in the mail. */
  expiresInMinutes: number;
}

/**
 * The Message-ID of the mail with this outbox id: the same on every try, so the rare second delivery (a crash
 * between the SMTP server's acceptance and the row being marked sent) can be recognised as a duplicate.
 */
export function messageIdFor(outboxId: string, from: string): string {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  const domain = address.split('@').pop()?.trim() || 'user-service';
  return `<${outboxId}@${domain}>`;
}

export class Outbox {
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly config: MailConfig,
    private readonly store: DataStore,
  ) {}

  /**
   * Renders the mail and writes it to the outbox in `uow`, the caller's unit of work; nothing is sent until that
   * commits and a sender claims it. Call `sendSoon()` once the unit of work has committed.
   */
  async enqueue(uow: RepositoryProvider, mail: OutgoingMail, now: Date = new Date()): Promise<void> {
    const rendered = renderMail(mail.template, {
      name: mail.name,
      token: mail.token,
      expiresInMinutes: mail.expiresInMinutes,
      publicUrl: this.config.publicUrl,
    });
    const at = now.toISOString();
    await new OutboxRepository(uow).add({
      created_at: at,
      status: 'pending',
      template: mail.template,
      to_address: mail.to,
      subject: rendered.subject,
      text_body: rendered.text,
      html_body: rendered.html,
      attempts: 0,
      available_at: at,
      locked_until: null,
      claimed_by: null,
      last_error: null,
      sent_at: null,
    });
  }

  /**
   * Wakes this process's sender to deliver what was just committed, instead of at its next poll. Call it after
   * the unit of work committed (before, the sender would not see the mail yet).
   */
  sendSoon(): void {
    for (const listener of this.listeners) listener();
  }

  /** Called on every `sendSoon()` (the sender subscribes); returns the unsubscribe function. */
  onSendSoon(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Pending and failed mails, oldest first (for `user-service outbox`); never their bodies. */
  async undelivered(limit = 1000): Promise<OutboxMail[]> {
    return new OutboxRepository(this.store).undelivered(limit);
  }

  /**
   * Puts failed mails (and pending ones no sender holds) back in line to be sent now, attempts reset; only
   * `ids` when given. A running service delivers them. Returns how many were put back.
   */
  async retry(ids?: readonly string[], now: Date = new Date()): Promise<number> {
    return new OutboxRepository(this.store).retry(now.toISOString(), ids);
  }
}

/**
 * Delivers the outbox. Every process runs one sender: it polls every OUTBOX_POLL_MS (for retries that came due
 * and mails another process left), and `Outbox.sendSoon()` wakes it at once after a commit.
 *
 * Exactly one sender gets each mail: it claims a batch (Repository.claim: `FOR UPDATE SKIP LOCKED` on
 * PostgreSQL and MySQL/MariaDB, the single writer on SQLite) with a lease, renews the lease before each send,
 * and finishes the mail compare-and-set on its claim. No transaction is held open while talking to SMTP.
 *
 * Delivery is at least once. The one window for a duplicate: the SMTP server accepted the mail and the process
 * died (or lost the database) before marking it sent; after the lease runs out another sender sends it again,
 * with the same Message-ID (derived from the outbox id), so a receiving system can drop the second copy.
 */
import { randomUUID } from 'node:crypto';
import type { DataStore } from '@user-service/data';
import type { MailConfig } from '../config.js';
import { type MailLogger, type MailTransport, safeErrorText } from './mail-transport.js';
import { messageIdFor, type Outbox, type OutboxMail } from './outbox.js';
import { OutboxRepository, type RetryPlan } from './outbox.repository.js';
import { OUTBOX_ERROR_MAX_LENGTH } from './outbox.table.js';

/** The longest wait between tries, whatever OUTBOX_RETRY_BASE_MS and the attempts say. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * How long a sent or failed mail stays in the outbox (for `user-service outbox` and the occasional look): a
 * week. Then it is deleted, address and subject with it, so the table does not grow with every sign-up forever
 * and a failed mail's body (with its long-expired token) does not stay. Every process prunes, at most hourly.
 */
export const OUTBOX_KEEP_MS = 7 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export interface OutboxSenderOptions {
  config: MailConfig;
  store: DataStore;
  outbox: Outbox;
  transport: MailTransport;
  log: MailLogger;
  /** Mails claimed at once (default 10). */
  batchSize?: number;
  /**
   * How long a claim holds a mail (default 5 minutes): far longer than one send may take (the transport's
   * timeouts), renewed before each send; after it, a crashed process's mails go to another sender.
   */
  leaseMs?: number;
}

/**
 * The delay before the next try after `attempts` failed ones: OUTBOX_RETRY_BASE_MS doubled per earlier failure,
 * capped at an hour, then spread by ±25% so mails that failed together (an outage) do not all come back at
 * the same moment.
 */
export function retryDelayMs(retryBaseMs: number, attempts: number, random: () => number = Math.random): number {
  const exponential = retryBaseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 32);
  const jittered = Math.min(exponential, MAX_RETRY_DELAY_MS) * (0.75 + random() * 0.5);
  return Math.round(Math.min(jittered, MAX_RETRY_DELAY_MS));
}

export class OutboxSender {
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly repository: OutboxRepository;
  private timer: NodeJS.Timeout | undefined;
  /** The drain in progress, if any: never two at once in one process. */
  private running: Promise<void> | undefined;
  /** A wake-up came during a drain: drain again right after it (the mail may have missed its claim). */
  private again = false;
  private started = false;
  /** Drains in a row that ended on a database error (see drain). */
  private failedDrains = 0;
  private closing = false;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: OutboxSenderOptions) {
    this.batchSize = options.batchSize ?? 10;
    this.leaseMs = options.leaseMs ?? 300_000;
    this.repository = new OutboxRepository(options.store);
  }

  /** Starts polling, with a first look right away (mails left from before a restart). */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
    this.unsubscribe = this.options.outbox.onSendSoon(() => this.wake());
    this.wake();
  }

  /** Looks for due mails now (or right after the drain in progress). */
  wake(): void {
    if (!this.started || this.closing) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.closing) return;
      if (this.again) {
        this.again = false;
        this.wake();
        return;
      }
      // unref: a pending poll never keeps a process alive on its own (the server or the test does).
      this.timer = setTimeout(() => this.wake(), this.options.config.pollMs).unref();
    });
  }

  /**
   * Stops polling and waits for the send in flight; mails claimed but not yet tried are given back at once.
   * The transport is closed too.
   */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    await this.running;
    this.options.transport.close();
  }

  /**
   * Sends batches until none is due. A database error ends the drain; the next poll tries again. A single one
   * is logged at debug only: on SQLite with WORKERS > 1 two processes' claims meeting end one of them with
   * SQLITE_BUSY now and then (that is how the single writer keeps a mail from two senders). From the third in
   * a row, the database is really in trouble: warn.
   */
  private async drain(): Promise<void> {
    try {
      while (!this.closing) {
        this.again = false;
        const claimed = await this.sendBatch();
        this.failedDrains = 0;
        if (claimed < this.batchSize && !this.again) {
          await this.pruneNowAndThen();
          return;
        }
      }
    } catch (error) {
      this.failedDrains += 1;
      const log = this.failedDrains >= 3 ? this.options.log.warn : this.options.log.debug;
      log.call(
        this.options.log,
        {
          err: safeErrorText(error, this.options.config.smtpUrl, OUTBOX_ERROR_MAX_LENGTH),
          in_a_row: this.failedDrains,
        },
        'outbox: could not read or update the outbox; trying again at the next poll',
      );
    }
  }

  /** Deletes mails done with for longer than OUTBOX_KEEP_MS, at most once an hour per process; how many. */
  async pruneNowAndThen(now = Date.now()): Promise<number> {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return 0;
    this.lastPrune = now;
    return this.repository.prune(new Date(now - OUTBOX_KEEP_MS).toISOString());
  }

  /** Claims one batch and sends it; returns how many mails were claimed. */
  private async sendBatch(): Promise<number> {
    const claimId = randomUUID();
    const now = Date.now();
    const mails = await this.repository.claimDue(
      new Date(now).toISOString(),
      new Date(now + this.leaseMs).toISOString(),
      claimId,
      this.batchSize,
    );
    for (const [index, mail] of mails.entries()) {
      if (this.closing) {
        for (const rest of mails.slice(index)) await this.repository.release(rest.id, claimId);
        break;
      }
      // Each mail's lease runs from the claim. A send that starts a quarter of the lease later (slow sends
      // before it) first renews that mail's lease, and skips the mail if the claim on it was lost meanwhile.
      const at = Date.now();
      if (at - now > this.leaseMs / 4) {
        if (!(await this.repository.renew(mail.id, claimId, new Date(at + this.leaseMs).toISOString()))) continue;
      }
      await this.sendOne(mail, claimId);
    }
    return mails.length;
  }

  private async sendOne(mail: OutboxMail, claimId: string): Promise<void> {
    const { config, log, transport } = this.options;
    const bodies = await this.repository.bodies(mail.id);
    if (!bodies) return;
    const attempts = mail.attempts + 1;
    try {
      await transport.send({
        from: config.from,
        to: mail.to_address,
        subject: mail.subject,
        text: bodies.text,
        html: bodies.html,
        messageId: messageIdFor(mail.id, config.from),
        template: mail.template,
      });
    } catch (error) {
      const plan = this.retryPlan(attempts, error);
      if (!(await this.repository.markFailedTry(mail.id, claimId, plan))) this.lostClaim(mail);
      log.warn(
        {
          mail: mail.id,
          template: mail.template,
          attempts,
          status: plan.status,
          next_try: plan.availableAt,
          err: plan.lastError,
        },
        plan.status === 'failed'
          ? 'outbox: mail failed, no tries left (`user-service outbox retry`)'
          : 'outbox: send failed, will retry',
      );
      return;
    }
    if (!(await this.repository.markSent(mail.id, claimId, attempts, new Date().toISOString()))) this.lostClaim(mail);
    log.info({ mail: mail.id, template: mail.template, attempts }, 'outbox: mail sent');
  }

  private retryPlan(attempts: number, error: unknown): RetryPlan {
    const { maxAttempts, retryBaseMs, smtpUrl } = this.options.config;
    const lastError = safeErrorText(error, smtpUrl, OUTBOX_ERROR_MAX_LENGTH);
    if (attempts >= maxAttempts) {
      return { attempts, status: 'failed', availableAt: new Date().toISOString(), lastError };
    }
    const availableAt = new Date(Date.now() + retryDelayMs(retryBaseMs, attempts)).toISOString();
    return { attempts, status: 'pending', availableAt, lastError };
  }

  /** The lease ran out during the send and another sender took the mail: it may be delivered twice. */
  private lostClaim(mail: OutboxMail): void {
    this.options.log.warn(
      { mail: mail.id, template: mail.template },
      'outbox: the claim on a mail ran out during its send; another sender may deliver it again (same Message-ID)',
    );
  }
}

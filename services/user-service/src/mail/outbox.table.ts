import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';

/** Where a mail is: waiting to be sent (or retried), delivered to the SMTP server, or given up on. */
export const OUTBOX_STATUSES = ['pending', 'sent', 'failed'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** Longest recipient address (RFC 5321's path limit, as users.email). */
export const OUTBOX_ADDRESS_MAX_LENGTH = 320;
export const OUTBOX_SUBJECT_MAX_LENGTH = 255;
/** last_error is cut to this many characters: enough for an SMTP reply, never a stack or a dump. */
export const OUTBOX_ERROR_MAX_LENGTH = 500;

/**
 * One mail of the transactional outbox: written in the same transaction as the token it carries, delivered
 * later by the sender (outbox-sender.ts). The bodies hold the link with the token, so they are secret columns:
 * never listed, only the sender reads them by name, and they are set to NULL once the mail is sent.
 */
export interface OutboxRow {
  id: string;
  created_at: string;
  status: OutboxStatus;
  /** The template the mail was rendered from (templates.ts), for lists and logs. */
  template: string;
  to_address: string;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  /** Sends tried so far. */
  attempts: number;
  /** When the mail may be (re)tried next. */
  available_at: string;
  /** A sender's claim on the mail lasts until then; after it (a crashed process), any sender may take it. */
  locked_until: string | null;
  /** Which claim holds the mail (a random id per claim), so a sender only ever finishes its own claims. */
  claimed_by: string | null;
  /** Why the last try failed, without credentials, cut to OUTBOX_ERROR_MAX_LENGTH. */
  last_error: string | null;
  sent_at: string | null;
}

export const outboxTable = defineTable<OutboxRow, 'id', 'text_body' | 'html_body'>({
  name: 'outbox',
  primaryKey: 'id',
  columns: {
    id: 'string',
    created_at: 'timestamp',
    status: 'string',
    template: 'string',
    to_address: 'string',
    subject: 'string',
    text_body: 'string?',
    html_body: 'string?',
    attempts: 'integer',
    available_at: 'timestamp',
    locked_until: 'timestamp?',
    claimed_by: 'string?',
    last_error: 'string?',
    sent_at: 'timestamp?',
  },
  // Time-ordered ids: id order is enqueue order (the claim's tie-break), and the Message-ID derives from it.
  generateId: uuidv7,
  // Only the sender reads them, by name; lists, logs and the CLI never see a body (it holds the token).
  secret: ['text_body', 'html_body'],
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      created_at: types.timestamp,
      status: types.key(16),
      template: types.key(32),
      to_address: types.string(OUTBOX_ADDRESS_MAX_LENGTH),
      subject: types.string(OUTBOX_SUBJECT_MAX_LENGTH),
      text_body: types.text,
      html_body: types.text,
      attempts: types.integer,
      available_at: types.timestamp,
      locked_until: types.timestamp,
      claimed_by: types.uuid,
      last_error: types.string(OUTBOX_ERROR_MAX_LENGTH),
      sent_at: types.timestamp,
    },
    indexes: {
      // The sender's claim: status = 'pending' and available_at <= now, oldest first. On MySQL/MariaDB the
      // index must serve the ORDER BY too, or FOR UPDATE SKIP LOCKED locks every pending row (see claim).
      ix_outbox_status_available_at: { columns: ['status', 'available_at'] },
    },
  },
});

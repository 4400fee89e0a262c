import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';
import { IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH } from '../sessions/session.table.js';

/** Longest event name (`password.reset_requested` and the like). */
export const AUDIT_EVENT_MAX_LENGTH = 64;
/** Longest request id (the X-Request-Id the service accepts, see app.ts). */
export const AUDIT_REQUEST_ID_MAX_LENGTH = 128;
/** Longest detail, as JSON text: a few short fields, never a free-form payload. */
export const AUDIT_DETAIL_MAX_LENGTH = 2000;

/**
 * One row of the append-only audit log. Ids are not foreign keys: an event outlives the user or key it names
 * (the record of a deletion must survive the deletion). Never holds a password, token, key or hash.
 */
export interface AuditEventRow {
  id: string;
  created_at: string;
  event: string;
  /** Who did it: a signed-in user, or an API key (neither: the person themself, anonymous, or the CLI). */
  actor_user_id: string | null;
  actor_api_key_id: string | null;
  /** Whose account it concerns. */
  target_user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  /** A small JSON object (see AuditDetail), or null. */
  detail: string | null;
}

export const auditEventsTable = defineTable<AuditEventRow, 'id'>({
  name: 'audit_events',
  primaryKey: 'id',
  columns: {
    id: 'string',
    created_at: 'timestamp',
    event: 'string',
    actor_user_id: 'string?',
    actor_api_key_id: 'string?',
    target_user_id: 'string?',
    ip: 'string?',
    user_agent: 'string?',
    request_id: 'string?',
    detail: 'string?',
  },
  // Time-ordered ids: id order is creation order, the tie-break of the newest-first pages.
  generateId: uuidv7,
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      created_at: types.timestamp,
      event: types.key(AUDIT_EVENT_MAX_LENGTH),
      actor_user_id: types.uuid,
      actor_api_key_id: types.uuid,
      target_user_id: types.uuid,
      ip: types.string(IP_MAX_LENGTH),
      user_agent: types.string(USER_AGENT_MAX_LENGTH),
      request_id: types.string(AUDIT_REQUEST_ID_MAX_LENGTH),
      detail: types.string(AUDIT_DETAIL_MAX_LENGTH),
    },
    indexes: {
      // Newest first over everything, and the prune of everything older than a time.
      ix_audit_events_created_at: { columns: ['created_at', 'id'] },
      // One user's events (GET /users/me/audit-events, ?user_id=), newest first.
      ix_audit_events_target_user_id_created_at: { columns: ['target_user_id', 'created_at', 'id'] },
      // One kind of event (?event=), newest first.
      ix_audit_events_event_created_at: { columns: ['event', 'created_at', 'id'] },
    },
  },
});

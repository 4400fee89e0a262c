/**
 * What the audit log records: the event names, who and where a change came from, and the one function every
 * service calls, inside the unit of work of the change it records (an event is committed with its change or
 * rolled back with it).
 */
import type { RepositoryProvider } from '@user-service/data';
import { IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH } from '../sessions/session.table.js';
import { AUDIT_DETAIL_MAX_LENGTH, AUDIT_REQUEST_ID_MAX_LENGTH, auditEventsTable } from './audit-event.table.js';
import type { AuditEventName } from './audit-event-names.js';

// The names live in a module without imports, which the admin console's bundle shares (src/admin/ui).
export { AUDIT_EVENTS, type AuditEventName, SECURITY_EVENTS } from './audit-event-names.js';

/** A few named facts about the event (a reason, a field list, a count); never a secret (see recordAudit). */
export type AuditDetail = Readonly<Record<string, string | number | boolean | null | readonly string[]>>;

/** Where a change came from: the HTTP request (audit-context.ts) or the CLI (`{ via: 'cli' }`). */
export interface AuditContext {
  actorUserId?: string | null;
  actorApiKeyId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  /** Set when the change did not come over HTTP; recorded in the detail. */
  via?: 'cli';
}

export interface AuditEntry {
  event: AuditEventName;
  /** Whose account the event concerns. */
  target?: string | null;
  detail?: AuditDetail;
}

// A detail names facts, never credentials: a key that reads like one is a programming error, refused loudly.
const SECRET_KEY = /pass|token|hash|secret|key$|cookie|authorization/i;

/**
 * Appends one event. Call it with the unit of work of the change it records, so both commit or neither does;
 * `context` is who and where (undefined: nothing known, e.g. a background job).
 */
export async function recordAudit(
  store: RepositoryProvider,
  context: AuditContext | undefined,
  entry: AuditEntry,
  now: Date = new Date(),
): Promise<void> {
  await store.repository(auditEventsTable).create({
    created_at: now.toISOString(),
    event: entry.event,
    actor_user_id: context?.actorUserId ?? null,
    actor_api_key_id: context?.actorApiKeyId ?? null,
    target_user_id: entry.target ?? null,
    ip: context?.ip ? context.ip.slice(0, IP_MAX_LENGTH) : null,
    user_agent: context?.userAgent ? context.userAgent.slice(0, USER_AGENT_MAX_LENGTH) : null,
    request_id: context?.requestId ? context.requestId.slice(0, AUDIT_REQUEST_ID_MAX_LENGTH) : null,
    detail: detailJson(entry.detail, context?.via),
  });
}

function detailJson(detail: AuditDetail | undefined, via: AuditContext['via']): string | null {
  const all = { ...detail, ...(via ? { via } : {}) };
  const keys = Object.keys(all);
  if (keys.length === 0) return null;
  const secret = keys.find((key) => SECRET_KEY.test(key));
  if (secret) throw new Error(`audit detail key "${secret}" looks like a credential; audit rows never hold one`);
  const json = JSON.stringify(all);
  // Bounded by the column; a detail is a few fields, so only a long user-given value (a name) can reach this.
  return json.length <= AUDIT_DETAIL_MAX_LENGTH ? json : JSON.stringify({ truncated: true, fields: keys });
}

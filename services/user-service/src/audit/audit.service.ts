/**
 * The audit log's read side and its retention: lists for superusers and for a user's own security events, the
 * export walk, and pruning. Writing stays with recordAudit (audit-events.ts), in each change's unit of work.
 */
import type { Database } from '@user-service/data';
import { type AuditFilters, AuditRepository } from './audit.repository.js';
import type { AuditEventPublic } from './audit.schemas.js';
import type { AuditEventRow } from './audit-event.table.js';
import type { AuditEventName } from './audit-events.js';
import { SECURITY_EVENTS } from './audit-events.js';

export interface AuditListOptions {
  limit: number;
  after?: string | undefined;
  event?: AuditEventName | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export interface AuditPage {
  audit_events: AuditEventPublic[];
  next_cursor: string | null;
}

/** A row as the API and the export show it: the detail parsed back into its object. */
export function auditEventPublic(row: AuditEventRow): AuditEventPublic {
  return { ...row, event: row.event as AuditEventName, detail: parseDetail(row.detail) };
}

// recordAudit writes the detail as a JSON object; anything else (a hand-edited row) is shown as no detail rather
// than failing the whole page.
function parseDetail(text: string | null): AuditEventPublic['detail'] {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, never>)
      : null;
  } catch {
    return null;
  }
}

const DAY_MS = 86_400_000;

export class AuditService {
  private readonly events: AuditRepository;

  constructor(database: Database) {
    this.events = new AuditRepository(database);
  }

  /** Every event (superusers), newest first, narrowed by the given filters. */
  list(options: AuditListOptions & { userId?: string | undefined; actorId?: string | undefined }): Promise<AuditPage> {
    return this.page(
      {
        ...(options.userId ? { targetUserId: options.userId } : {}),
        ...(options.actorId ? { actorId: options.actorId } : {}),
        ...this.common(options),
      },
      options,
    );
  }

  /**
   * The security events of one user's own account (sign-ins, passwords, sessions, email), newest first: never
   * another user's, and not the administrative ones (user.updated and the like) about them.
   */
  async listOwn(userId: string, options: AuditListOptions): Promise<AuditPage> {
    const page = await this.page(
      { ...this.common(options), targetUserId: userId, events: options.event ? [options.event] : SECURITY_EVENTS },
      options,
    );
    // What someone else did to the account (an administrator's PATCH, a session ended by a superuser) shows as
    // done, not by whom, from where or with what: those are the administrator's, not the user's, to see.
    const others = (event: AuditEventPublic) =>
      event.actor_api_key_id !== null || (event.actor_user_id !== null && event.actor_user_id !== userId);
    return {
      ...page,
      audit_events: page.audit_events.map((event) =>
        others(event)
          ? { ...event, actor_user_id: null, actor_api_key_id: null, ip: null, user_agent: null, request_id: null }
          : event,
      ),
    };
  }

  /** Every matching event, oldest first, in public shape, a batch at a time (for `audit export`). */
  async *export(filters: AuditFilters): AsyncGenerator<AuditEventPublic[]> {
    for await (const rows of this.events.all(filters)) yield rows.map(auditEventPublic);
  }

  /** How many events a prune at `before` would delete. */
  countOlderThan(before: Date): Promise<number> {
    return this.events.countOlderThan(before.toISOString());
  }

  /** Deletes the events older than `before`, in bounded batches; returns how many. */
  pruneOlderThan(before: Date): Promise<number> {
    return this.events.pruneOlderThan(before.toISOString());
  }

  /** AUDIT_RETENTION_DAYS applied at `now`: deletes what is older than that many days; 0 days keeps everything. */
  async applyRetention(days: number, now: Date = new Date()): Promise<number> {
    if (days <= 0) return 0;
    return this.pruneOlderThan(new Date(now.getTime() - days * DAY_MS));
  }

  private common(options: AuditListOptions): AuditFilters {
    return {
      ...(options.event ? { events: [options.event] } : {}),
      ...(options.from ? { from: options.from } : {}),
      ...(options.to ? { to: options.to } : {}),
    };
  }

  private async page(filters: AuditFilters, options: AuditListOptions): Promise<AuditPage> {
    const page = await this.events.page(filters, { limit: options.limit, after: options.after });
    return { audit_events: page.items.map(auditEventPublic), next_cursor: page.nextCursor };
  }
}

/**
 * The queries the audit log's read side needs: the only code that reads or deletes `audit_events` (writes go
 * through recordAudit in audit-events.ts, inside the unit of work of the change they record).
 */
import type { Filters, Page, RepositoryProvider } from '@user-service/data';
import { type AuditEventRow, auditEventsTable } from './audit-event.table.js';
import type { AuditEventName } from './audit-events.js';

/** What a list or an export may be narrowed to; every field is optional and all given ones must hold. */
export interface AuditFilters {
  /** Whose account the event concerns (target_user_id): served by its own index. */
  targetUserId?: string;
  /**
   * Who did it: a user id or an API key id (matched against both actor columns; the ids are UUIDs, so one never
   * passes for the other). No index of its own: the newest-first walk of the time index filters by it, which
   * suits an occasional superuser query, not a hot path.
   */
  actorId?: string;
  /** Only these events (one for ?event=, SECURITY_EVENTS for a user's own view). */
  events?: readonly AuditEventName[];
  /** Inclusive lower bound on created_at (ISO-8601). */
  from?: string;
  /** Exclusive upper bound on created_at (ISO-8601). */
  to?: string;
}

/** The column a page of the log is ordered by (then id): the only one its cursors may name. */
const SORTABLE = ['created_at'] as const;
/** Rows deleted per statement while pruning: each batch is its own short statement, never one huge lock. */
export const PRUNE_BATCH = 1000;
/** Rows read per query while an export walks the log. */
export const EXPORT_BATCH = 500;

function toFilters(filters: AuditFilters): Filters<AuditEventRow> {
  const out: Filters<AuditEventRow> = {};
  if (filters.targetUserId) out.target_user_id = filters.targetUserId;
  if (filters.actorId) out.$or = [{ actor_user_id: filters.actorId }, { actor_api_key_id: filters.actorId }];
  if (filters.events) out.event = filters.events.length === 1 ? (filters.events[0] as string) : { in: filters.events };
  if (filters.from || filters.to) {
    out.created_at = { ...(filters.from ? { gte: filters.from } : {}), ...(filters.to ? { lt: filters.to } : {}) };
  }
  return out;
}

export class AuditRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(auditEventsTable);
  }

  /**
   * One page, newest first (created_at, then the time-ordered id). `after` is a previous page's signed cursor;
   * it is bound to these filters, so one issued for another query is refused (InvalidCursorError).
   */
  page(filters: AuditFilters, options: { limit: number; after?: string | undefined }): Promise<Page<AuditEventRow>> {
    return this.table.list({
      filters: toFilters(filters),
      orderBy: { column: 'created_at', direction: 'desc' },
      limit: options.limit,
      ...(options.after ? { after: options.after } : {}),
      sortable: SORTABLE,
    });
  }

  /** Every matching event, oldest first, a keyset batch at a time: memory stays flat whatever the log's size. */
  async *all(filters: AuditFilters, batch = EXPORT_BATCH): AsyncGenerator<AuditEventRow[]> {
    let after: string | undefined;
    do {
      const page = await this.table.list({
        filters: toFilters(filters),
        orderBy: { column: 'created_at', direction: 'asc' },
        limit: batch,
        ...(after ? { after } : {}),
        sortable: SORTABLE,
      });
      if (page.items.length > 0) yield page.items;
      after = page.nextCursor ?? undefined;
    } while (after);
  }

  /** How many events are older than `before` (what a prune would delete). */
  countOlderThan(before: string): Promise<number> {
    return this.table.count({ created_at: { lt: before } });
  }

  /**
   * Deletes every event older than `before`, oldest first, PRUNE_BATCH rows per DELETE. Called on the database
   * (not a unit of work), each batch commits on its own: a prune of millions of rows never holds one giant
   * transaction or its locks, and one that stops half-way has still done its share. Returns how many it deleted.
   */
  async pruneOlderThan(before: string, batch = PRUNE_BATCH): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { items } = await this.table.list({
        filters: { created_at: { lt: before } },
        orderBy: { column: 'created_at', direction: 'asc' },
        limit: batch,
      });
      if (items.length === 0) return deleted;
      // Another process pruning at the same moment may have taken some of these: count only what this one did.
      deleted += await this.table.deleteWhere({ id: { in: items.map((row) => row.id) } });
      if (items.length < batch) return deleted;
    }
  }
}

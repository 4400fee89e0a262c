import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { session } from '../auth-session';
import { AUDIT_FILTER_KEYS, AuditFilters, type AuditFilterValues } from '../components/audit-filters';
import { type AuditRecord, type AuditRecordList, AuditTable } from '../components/audit-table';
import { reportIfTransient } from '../connection-banner';
import { navigate, useLocation } from '../router';
import { useResource } from '../use-resource';

/** Events a page; the API's default (50) of at most 200. */
const PAGE_SIZE = 50;

/** The older pages fetched after a first page (`base`): they belong to it and are dropped when it changes. */
interface Older {
  base: AuditRecordList;
  events: AuditRecord[];
  next: string | null;
}

/**
 * The audit log (GET /api/v1/audit-events), newest first. The filters live in the URL (/admin/audit?event=...),
 * so a reload, a bookmark or the back button keeps them; "Older events" follows the API's keyset cursor and
 * appends, never counting rows to skip.
 */
export function AuditPage() {
  const { query } = useLocation();
  const filters: AuditFilterValues = {
    event: query.get('event') ?? '',
    user_id: query.get('user_id') ?? '',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
  };
  const key = AUDIT_FILTER_KEYS.map((name) => filters[name]).join('\n');
  const heading = useRef<HTMLHeadingElement>(null);
  const [older, setOlder] = useState<Older | undefined>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<string | undefined>();

  useEffect(() => heading.current?.focus(), []);

  const first = useResource(
    (signal) => session.api<AuditRecordList>('/audit-events', { query: { ...filters, limit: PAGE_SIZE }, signal }),
    [key],
  );
  // After a failed load the last answer is of other filters (or stale): show none rather than the wrong rows.
  const base = first.error ? undefined : first.data;
  const mine = older && older.base === base ? older : undefined;
  const events = base ? [...base.audit_events, ...(mine?.events ?? [])] : [];
  const next = mine ? mine.next : base?.next_cursor;

  const setFilters = (values: AuditFilterValues) => {
    const params = new URLSearchParams();
    for (const name of AUDIT_FILTER_KEYS) if (values[name]) params.set(name, values[name]);
    const search = params.toString();
    setMoreError(undefined);
    navigate(`/admin/audit${search ? `?${search}` : ''}`);
  };

  const loadOlder = async () => {
    if (!base || !next) return;
    setLoadingMore(true);
    setMoreError(undefined);
    try {
      const page = await session.api<AuditRecordList>('/audit-events', {
        query: { ...filters, limit: PAGE_SIZE, after: next },
      });
      setOlder({ base, events: [...(mine?.events ?? []), ...page.audit_events], next: page.next_cursor });
    } catch (error) {
      if (!reportIfTransient(error, () => void loadOlder())) {
        setMoreError(error instanceof Error ? error.message : String(error));
      }
    } finally {
      setLoadingMore(false);
    }
  };

  const error = first.error;
  const fieldErrors = error?.status === 422 ? error.fields : {};
  const fieldShown = AUDIT_FILTER_KEYS.some((name) => fieldErrors[name]);
  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        Audit log
      </h1>
      <AuditFilters values={filters} errors={fieldErrors} onChange={setFilters} />
      {error && !fieldShown && (
        <p class="error" role="alert">
          {error instanceof ApiError ? error.message : String(error)}
        </p>
      )}
      <p role="status" class="muted">
        {error ? '' : statusText(first.loading && !base, events.length, Boolean(next))}
      </p>
      {events.length > 0 && <AuditTable events={events} />}
      <div class="pager">
        {next && (
          <button type="button" onClick={() => void loadOlder()} disabled={loadingMore}>
            {loadingMore ? 'Loading older events…' : 'Older events'}
          </button>
        )}
        {moreError && (
          <p class="error" role="alert">
            {moreError}
          </p>
        )}
      </div>
    </>
  );
}

function statusText(loading: boolean, count: number, more: boolean): string {
  if (loading) return 'Loading events…';
  if (count === 0) return 'No events match.';
  const shown = `${count.toLocaleString()} ${count === 1 ? 'event' : 'events'}, newest first`;
  return more ? `${shown}; older ones follow.` : `${shown}; that is all.`;
}

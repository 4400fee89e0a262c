import { session } from '../auth-session';
import { detailText, EventName } from '../components/audit-table';
import { DateTime } from '../components/date-time';
import type { AuditEvent } from '../types';
import { useCursorList } from './user-cursor-list';

interface AuditList {
  audit_events: AuditEvent[];
  next_cursor: string | null;
}

const PAGE_SIZE = 20;

/** Who did it: a user (a link to them; "you" for the signed-in one), an API key, or nobody signed in. */
function Actor({ event, userId }: { event: AuditEvent; userId: string }) {
  if (event.actor_user_id) {
    const id = event.actor_user_id;
    if (id === session.user?.id) return <span>you</span>;
    if (id === userId) return <span>this user</span>;
    return (
      <a href={`/admin/users/${id}`} class="mono" title={id}>
        user {id.slice(0, 8)}
      </a>
    );
  }
  if (event.actor_api_key_id) {
    return (
      <span class="mono" title={event.actor_api_key_id}>
        API key {event.actor_api_key_id.slice(0, 8)}
      </span>
    );
  }
  // Nobody signed in: a sign-in itself, a mail link, the CLI (detail.via says which when known).
  return <span class="muted">—</span>;
}

/** The user's audit events, newest first, 20 at a time; "Older events" continues from next_cursor. */
export function UserAudit({ userId, version }: { userId: string; version: number }) {
  const list = useCursorList<AuditEvent>(
    async (after, signal) => {
      const page = await session.api<AuditList>('/audit-events', {
        query: { user_id: userId, limit: PAGE_SIZE, after },
        ...(signal ? { signal } : {}),
      });
      return { items: page.audit_events, next: page.next_cursor };
    },
    [userId, version],
  );

  return (
    <section class="user-section" aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit events</h2>
      {list.error && (
        <p class="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.data && list.items.length === 0 ? (
        <p class="muted">No events.</p>
      ) : (
        <div class="table-wrap">
          <table aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Actor</th>
                <th scope="col" class="wide">
                  IP
                </th>
                <th scope="col" class="wide">
                  Detail
                </th>
                <th scope="col" class="wide">
                  Request id
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((event) => (
                <tr key={event.id}>
                  <td>
                    <DateTime iso={event.created_at} />
                  </td>
                  <td class="event-name">
                    <EventName name={event.event} />
                  </td>
                  <td>
                    <Actor event={event} userId={userId} />
                  </td>
                  <td class="wide mono nowrap">{event.ip ?? ''}</td>
                  <td class="wide">{detailText(event.detail)}</td>
                  <td class="wide mono">{event.request_id ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.next && (
        <button type="button" onClick={list.loadMore} disabled={list.loadingMore}>
          Older events
        </button>
      )}
      {list.moreError && (
        <p class="error" role="alert">
          {list.moreError}
        </p>
      )}
    </section>
  );
}

import { Fragment } from 'preact';
import type { AuditEvent } from '../types';
import { DateTime } from './date-time';

/** One event as GET /api/v1/audit-events sends it (AuditEventPublic in src/audit/audit.schemas.ts). */
export type AuditRecord = AuditEvent;

/** A page of the log: newest first; next_cursor goes back as `after` for the older events. */
export interface AuditRecordList {
  audit_events: AuditRecord[];
  next_cursor: string | null;
}

/** The detail's few named facts on one line ("fields: email, full_name; via: cli"), as plain text, never markup. */
export function detailText(detail: AuditRecord['detail']): string {
  if (!detail) return '';
  return Object.entries(detail)
    .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
    .join('; ');
}

/** An event name that may break after a dot on a narrow screen, never inside a word. */
export function EventName({ name }: { name: string }) {
  const parts = name.split('.');
  return (
    <code>
      {parts.map((part, index) => (
        <Fragment key={index}>
          {index > 0 && <wbr />}
          {index < parts.length - 1 ? `${part}.` : part}
        </Fragment>
      ))}
    </code>
  );
}

function UserLink({ id }: { id: string }) {
  return (
    <a class="mono" href={`/admin/users/${id}`}>
      {id}
    </a>
  );
}

/** Who did it: a signed-in user, an API key, the CLI, or nobody known (a background job, an anonymous call). */
function Actor({ event }: { event: AuditRecord }) {
  if (event.actor_user_id) return <UserLink id={event.actor_user_id} />;
  if (event.actor_api_key_id) {
    return (
      <span>
        API key <span class="mono">{event.actor_api_key_id}</span>
      </span>
    );
  }
  if (event.detail?.via === 'cli') return <span>CLI</span>;
  return <span class="muted">—</span>;
}

/**
 * Audit events in a table, in the order given (the API's: newest first). The links lead to the users' pages; a
 * user deleted since shows there as not found, which is the truth.
 */
export function AuditTable({ events, label = 'Audit events' }: { events: readonly AuditRecord[]; label?: string }) {
  return (
    <div class="table-wrap">
      <table aria-label={label} class="audit-table">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Actor</th>
            <th scope="col">Target user</th>
            <th scope="col" class="wide">
              IP
            </th>
            <th scope="col" class="wide">
              Request id
            </th>
            <th scope="col" class="wide">
              Detail
            </th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.id}>
              <td>
                <DateTime iso={event.created_at} />
              </td>
              <td>
                <EventName name={event.event} />
              </td>
              <td>
                <Actor event={event} />
              </td>
              <td>{event.target_user_id ? <UserLink id={event.target_user_id} /> : <span class="muted">—</span>}</td>
              <td class="wide mono audit-ip" title={event.user_agent ?? undefined}>
                {event.ip ?? ''}
              </td>
              <td class="wide mono">{event.request_id ?? ''}</td>
              <td class="wide">{detailText(event.detail)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import type { FieldErrors } from '../api-client';
import { AUDIT_EVENT_NAMES } from './audit-event-names';

/** The audit log's filters, named as the API's query parameters and kept so in the page's URL. */
export interface AuditFilterValues {
  event: string;
  user_id: string;
  /** ISO timestamps: `from` inclusive, `to` exclusive (the API's rule). */
  from: string;
  to: string;
}

export const AUDIT_FILTER_KEYS = ['event', 'user_id', 'from', 'to'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How long typing in "User id" pauses before the filter applies (one request per pause, not per key). */
const TYPING_PAUSE_MS = 300;

const two = (n: number) => String(n).padStart(2, '0');

/** An ISO instant as a datetime-local input's value, in the browser's time zone; '' when it is not a date. */
function localInputValue(iso: string): string {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return '';
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}`;
}

/** A datetime-local value (the browser's time zone) as the ISO instant the API takes; '' for none. */
function isoOf(local: string): string {
  const date = new Date(local);
  return local && !Number.isNaN(date.getTime()) ? date.toISOString() : '';
}

/**
 * The filter controls. Each applies as soon as it holds a whole value (a chosen event, a complete date and
 * time, a complete user id), so there is no "Apply" step; `onChange` gets the full new set.
 */
export function AuditFilters({
  values,
  errors,
  onChange,
}: {
  values: AuditFilterValues;
  /** The API's 422 messages, by query parameter. */
  errors: FieldErrors;
  onChange: (next: AuditFilterValues) => void;
}) {
  const [userId, setUserId] = useState(values.user_id);
  const [userIdHint, setUserIdHint] = useState<string | undefined>();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // The filters as of the latest render: the typing timer fires later and must not bring back older ones (an
  // event picked while the pause ran would be lost).
  const latest = useRef(values);
  latest.current = values;

  // The URL changed under the input (back button, "Clear filters"): show what it holds now.
  useEffect(() => {
    setUserId(values.user_id);
    setUserIdHint(undefined);
  }, [values.user_id]);
  useEffect(() => () => clearTimeout(timer.current), []);

  const typeUserId = (text: string) => {
    setUserId(text);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      const id = text.trim();
      if (id && !UUID.test(id)) {
        setUserIdHint('A user id is a UUID, e.g. 0192f0c4-5b1e-7c3a-9d2e-1f2a3b4c5d6e.');
        return;
      }
      setUserIdHint(undefined);
      const current = latest.current;
      if (id.toLowerCase() !== current.user_id.toLowerCase()) onChange({ ...current, user_id: id.toLowerCase() });
    }, TYPING_PAUSE_MS);
  };

  const userIdError = userIdHint ?? errors.user_id;
  const any = AUDIT_FILTER_KEYS.some((key) => values[key]);
  return (
    <search class="toolbar audit-filters" aria-label="Filter the audit log">
      <div>
        <label for="audit-event">Event</label>
        <select
          id="audit-event"
          value={values.event}
          aria-invalid={errors.event ? 'true' : undefined}
          aria-describedby={errors.event ? 'audit-event-error' : undefined}
          onChange={(e) => onChange({ ...values, event: e.currentTarget.value })}
        >
          <option value="">All events</option>
          {AUDIT_EVENT_NAMES.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        {errors.event && (
          <p id="audit-event-error" class="error">
            {errors.event}
          </p>
        )}
      </div>
      <div>
        <label for="audit-user-id">User id</label>
        <input
          id="audit-user-id"
          class="mono audit-user-id"
          autocomplete="off"
          spellcheck={false}
          value={userId}
          aria-invalid={userIdError ? 'true' : undefined}
          aria-describedby={userIdError ? 'audit-user-id-error' : undefined}
          onInput={(e) => typeUserId(e.currentTarget.value)}
        />
        {userIdError && (
          <p id="audit-user-id-error" class="error">
            {userIdError}
          </p>
        )}
      </div>
      {(['from', 'to'] as const).map((key) => (
        <div key={key}>
          <label for={`audit-${key}`}>{key === 'from' ? 'From' : 'To'}</label>
          <input
            id={`audit-${key}`}
            type="datetime-local"
            value={localInputValue(values[key])}
            aria-invalid={errors[key] ? 'true' : undefined}
            aria-describedby={errors[key] ? `audit-${key}-error` : undefined}
            onChange={(e) => onChange({ ...values, [key]: isoOf(e.currentTarget.value) })}
          />
          {errors[key] && (
            <p id={`audit-${key}-error`} class="error">
              {errors[key]}
            </p>
          )}
        </div>
      ))}
      {any && (
        <button type="button" onClick={() => onChange({ event: '', user_id: '', from: '', to: '' })}>
          Clear filters
        </button>
      )}
    </search>
  );
}

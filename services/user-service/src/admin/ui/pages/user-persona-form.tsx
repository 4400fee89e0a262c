import { useRef, useState } from 'preact/hooks';
import { ApiError, type FieldErrors } from '../api-client';
import { reportIfTransient } from '../connection-banner';

/** A persona's editable fields as the API takes them (persona.schemas.ts). */
export interface PersonaDraft {
  name: string;
  relation_type: string;
  description: string;
  status: string;
}

interface Props {
  /** Prefix of the inputs' ids, unique on the page ("new-persona", "edit-persona"). */
  idPrefix: string;
  initial: PersonaDraft;
  /** Whether to offer the status field (a new persona starts "active", the API's default). */
  withStatus: boolean;
  /** The form's accessible name ("New persona", "Edit Work"). */
  label: string;
  submitLabel: string;
  /** Sends the draft; resolves when stored, rejects with the API's error. */
  send: (draft: PersonaDraft) => Promise<void>;
  /** After a successful send: true clears the form (a new persona), false leaves it to the owner. */
  resetAfter: boolean;
  onCancel?: () => void;
}

const FIELDS: readonly { key: keyof PersonaDraft; label: string; required?: boolean }[] = [
  { key: 'name', label: 'Name', required: true },
  { key: 'relation_type', label: 'Relation', required: true },
  { key: 'description', label: 'Description' },
  { key: 'status', label: 'Status', required: true },
];

/**
 * The persona form, for a new persona and for an edit: the API's 422 message for a field appears under that
 * field; any other refusal under the buttons. What was typed stays when the connection fails (the banner's
 * Retry sends it again).
 */
export function PersonaForm(props: Props) {
  const { idPrefix, initial, withStatus, label, submitLabel, send, resetAfter, onCancel } = props;
  const [draft, setDraftState] = useState(initial);
  const latest = useRef(initial);
  const setField = (key: keyof PersonaDraft, value: string) => {
    latest.current = { ...latest.current, [key]: value };
    setDraftState(latest.current);
  };
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);

  const submit = async () => {
    if (busy) return;
    setBusy(true);
    setFieldErrors({});
    setError(undefined);
    try {
      await send(latest.current);
      if (resetAfter) {
        latest.current = initial;
        setDraftState(initial);
        first.current?.focus();
      }
    } catch (caught) {
      if (reportIfTransient(caught, () => void submit())) return;
      if (caught instanceof ApiError && Object.keys(caught.fields).length > 0) {
        setFieldErrors(caught.fields);
        // A message for a field the form does not show (unlikely) is still said.
        const shown = FIELDS.some((f) => caught.fields[f.key]);
        if (!shown) setError(caught.message);
      } else {
        setError(caught instanceof Error ? caught.message : String(caught));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="persona-form"
      noValidate
      aria-label={label}
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <div class="persona-fields">
        {FIELDS.filter((f) => withStatus || f.key !== 'status').map((f) => {
          const id = `${idPrefix}-${f.key}`;
          const message = fieldErrors[f.key];
          return (
            <div key={f.key} class="persona-field">
              <label for={id}>{f.label}</label>
              <input
                id={id}
                ref={f.key === 'name' ? first : undefined}
                value={draft[f.key]}
                aria-required={f.required ? 'true' : undefined}
                aria-invalid={message ? 'true' : undefined}
                aria-describedby={message ? `${id}-error` : undefined}
                onInput={(event) => setField(f.key, event.currentTarget.value)}
              />
              {message && (
                <p id={`${id}-error`} class="error" role="alert">
                  {message}
                </p>
              )}
            </div>
          );
        })}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="dialog-buttons">
        {onCancel && (
          <button type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}

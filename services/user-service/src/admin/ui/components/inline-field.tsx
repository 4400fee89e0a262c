import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { reportIfTransient } from '../connection-banner';

export interface InlineFieldProps {
  /** The API's field name: the PATCH body's key, the 422's loc, and the error element's id ("email-error"). */
  field: string;
  /** The label as shown: "Email"; the edit button says "Edit email". */
  label: string;
  value: string | null;
  type?: 'text' | 'email';
  autocomplete?: string;
  /** Sends the new value (null for an emptied optional field); rejects with the API's error. */
  save: (value: string | null) => Promise<void>;
  /** An empty value is sent as null (username, full name) rather than refused here. */
  nullable?: boolean;
}

/**
 * One field shown as its value with an "Edit …" button; editing shows a labelled input with Save and Cancel
 * (Enter saves, Escape cancels). The API's answer is the judge of the value: its 422 message or its 409
 * conflict appear next to the input, which keeps what was typed. A lost connection goes to the banner, whose
 * Retry sends the same value again.
 */
export function InlineField({ field, label, value, type = 'text', autocomplete, save, nullable }: InlineFieldProps) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraftState] = useState('');
  // What is typed now, for the banner's Retry, which may run after more typing than the failed attempt saw.
  const latest = useRef('');
  const setDraft = (text: string) => {
    latest.current = text;
    setDraftState(text);
  };
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const editButton = useRef<HTMLButtonElement>(null);
  // Focus follows the mode: into the input when editing starts, back to the button when it ends.
  const focusNext = useRef<'input' | 'button' | undefined>(undefined);
  const inputId = `${field}-input`;
  const errorId = `${field}-error`;

  useEffect(() => {
    if (focusNext.current === 'input') {
      input.current?.focus();
      input.current?.select();
    }
    if (focusNext.current === 'button') editButton.current?.focus();
    focusNext.current = undefined;
  }, [editing]);

  const start = () => {
    setDraft(value ?? '');
    setError(undefined);
    focusNext.current = 'input';
    setEditing(true);
  };
  const stop = () => {
    setError(undefined);
    focusNext.current = 'button';
    setEditing(false);
  };

  const submit = async () => {
    if (busy) return;
    const text = latest.current.trim();
    setBusy(true);
    setError(undefined);
    try {
      await save(text === '' && nullable ? null : text);
      stop();
    } catch (caught) {
      if (reportIfTransient(caught, () => void submit())) return;
      const apiError = caught instanceof ApiError ? caught : undefined;
      // The 422 names this field in its loc; any other refusal (409, 403, 404) is said in the API's words.
      setError(apiError?.fields[field] ?? apiError?.message ?? String(caught));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  if (!editing) {
    return (
      <div class="inline-field">
        <span class="inline-label">{label}</span>
        <span class="inline-value">{value || <span class="muted">(none)</span>}</span>
        <button type="button" ref={editButton} onClick={start}>
          Edit {label.toLowerCase()}
        </button>
      </div>
    );
  }
  return (
    <form
      class="inline-field editing"
      // The API judges the value (its 422 message shows here); the browser's own bubble would hide it.
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <label for={inputId} class="inline-label">
        {label}
      </label>
      <input
        id={inputId}
        ref={input}
        name={field}
        type={type}
        value={draft}
        autocomplete={autocomplete}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? errorId : undefined}
        onInput={(event) => setDraft(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === 'Escape') {
            event.preventDefault();
            stop();
          }
        }}
      />
      <button type="submit" class="primary" disabled={busy}>
        Save
      </button>
      <button type="button" onClick={stop} disabled={busy}>
        Cancel
      </button>
      {error && (
        <p id={errorId} class="error field-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

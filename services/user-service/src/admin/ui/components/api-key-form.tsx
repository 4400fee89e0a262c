import { useEffect, useState } from 'preact/hooks';
import { ApiError, type FieldErrors } from '../api-client';
import { session } from '../auth-session';
import { reportIfTransient } from '../connection-banner';
import { API_KEY_SCOPES, type ApiKeyScope, SCOPE_HINTS } from '../scopes';
import type { ApiKeyCreated } from './api-key-types';

/** The API's bound on a key's name (API_KEY_NAME_MAX_LENGTH in src/api-keys/api-key.table.ts). */
const NAME_MAX_LENGTH = 100;

/** A date input's value as the instant the key stops working: the start of that day in the browser's time zone. */
function expiryOf(date: string): string | undefined {
  if (!date) return undefined;
  const start = new Date(`${date}T00:00:00`);
  return Number.isNaN(start.getTime()) ? date : start.toISOString();
}

/** Tomorrow as a date input's value: the earliest expiry that is still in the future at the start of its day. */
function tomorrow(): string {
  const day = new Date();
  day.setDate(day.getDate() + 1);
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}`;
}

/**
 * The "New API key" form: a name, the scopes (one checkbox each, as the API accepts them), an optional expiry.
 * Input stays when the request fails, so nothing has to be typed again.
 */
export function ApiKeyForm({ onCreated }: { onCreated: (created: ApiKeyCreated) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<ReadonlySet<ApiKeyScope>>(new Set());
  const [expires, setExpires] = useState('');
  const [fields, setFields] = useState<FieldErrors>({});
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  // After a refused submit, the focus goes to the first field in error, so a keyboard or screen-reader user is
  // taken to the message (its input names it through aria-describedby) instead of staying on the button.
  useEffect(() => {
    const first = fields.name ? 'api-key-name' : fields.scopes ? `scope-${API_KEY_SCOPES[0]}` : undefined;
    const target = first ?? (fields.expires_at ? 'api-key-expires' : undefined);
    if (target) document.getElementById(target)?.focus();
  }, [fields]);

  const toggle = (scope: ApiKeyScope, on: boolean) => {
    const next = new Set(scopes);
    if (on) next.add(scope);
    else next.delete(scope);
    setScopes(next);
  };

  const create = async () => {
    setBusy(true);
    setError(undefined);
    setFields({});
    try {
      const expiresAt = expiryOf(expires);
      const created = await session.api<ApiKeyCreated>('/api-keys', {
        method: 'POST',
        body: {
          name: name.trim(),
          // In the order the API lists them, whatever order they were ticked in.
          scopes: API_KEY_SCOPES.filter((scope) => scopes.has(scope)),
          ...(expiresAt ? { expires_at: expiresAt } : {}),
        },
      });
      setName('');
      setScopes(new Set());
      setExpires('');
      onCreated(created);
    } catch (caught) {
      if (reportIfTransient(caught, () => void create())) return;
      if (caught instanceof ApiError && caught.status === 422) {
        // A message about one scope is located at scopes/<index>: it belongs to the scopes all the same.
        const { name: nameError, expires_at, scopes: scopesError, ...rest } = caught.fields;
        const scopeError = scopesError ?? Object.entries(rest).find(([key]) => /^\d+$/.test(key))?.[1];
        const located = { name: nameError, expires_at, scopes: scopeError };
        const known = Object.fromEntries(Object.entries(located).filter(([, msg]) => msg)) as FieldErrors;
        setFields(known);
        if (Object.keys(known).length === 0) setError(caught.message);
      } else {
        setError(caught instanceof Error ? caught.message : String(caught));
      }
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const problems: FieldErrors = {};
    if (!name.trim()) problems.name = 'Give the key a name: what or who will use it.';
    if (scopes.size === 0) problems.scopes = 'Choose at least one scope.';
    setFields(problems);
    if (Object.keys(problems).length === 0) void create();
  };

  return (
    <section class="api-key-new" aria-labelledby="new-key-title">
      <h2 id="new-key-title">New API key</h2>
      <form aria-labelledby="new-key-title" onSubmit={submit} noValidate>
        <div class="field">
          <label for="api-key-name">Name</label>
          <input
            id="api-key-name"
            value={name}
            maxLength={NAME_MAX_LENGTH}
            autocomplete="off"
            aria-invalid={fields.name ? 'true' : undefined}
            aria-describedby={fields.name ? 'name-error' : undefined}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          {fields.name && (
            <p id="name-error" class="error">
              {fields.name}
            </p>
          )}
        </div>
        <fieldset
          class="scope-choices"
          aria-invalid={fields.scopes ? 'true' : undefined}
          aria-describedby={fields.scopes ? 'scopes-error' : undefined}
        >
          <legend>Scopes</legend>
          {API_KEY_SCOPES.map((scope) => (
            <div class="scope-choice" key={scope}>
              <input
                type="checkbox"
                id={`scope-${scope}`}
                checked={scopes.has(scope)}
                aria-describedby={`scope-${scope}-hint`}
                onChange={(e) => toggle(scope, e.currentTarget.checked)}
              />
              <label for={`scope-${scope}`}>{scope}</label>
              <span id={`scope-${scope}-hint`} class="muted">
                {SCOPE_HINTS[scope]}
              </span>
            </div>
          ))}
          {fields.scopes && (
            <p id="scopes-error" class="error">
              {fields.scopes}
            </p>
          )}
        </fieldset>
        <div class="field">
          <label for="api-key-expires">Expires</label>
          <input
            id="api-key-expires"
            type="date"
            min={tomorrow()}
            value={expires}
            aria-invalid={fields.expires_at ? 'true' : undefined}
            aria-describedby={fields.expires_at ? 'expires-hint expires_at-error' : 'expires-hint'}
            onInput={(e) => setExpires(e.currentTarget.value)}
          />
          <p id="expires-hint" class="muted">
            Optional: the key stops working at the start of that day (your time zone). Empty: it never expires.
          </p>
          {fields.expires_at && (
            <p id="expires_at-error" class="error">
              {fields.expires_at}
            </p>
          )}
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </form>
    </section>
  );
}

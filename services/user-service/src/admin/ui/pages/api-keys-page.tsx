import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { session } from '../auth-session';
import { ApiKeyForm } from '../components/api-key-form';
import { ApiKeySecret } from '../components/api-key-secret';
import { ApiKeyTable } from '../components/api-key-table';
import type { ApiKey, ApiKeyCreated, ApiKeyList } from '../components/api-key-types';
import { ConfirmDialog } from '../components/confirm-dialog';
import { reportIfTransient } from '../connection-banner';
import { useResource } from '../use-resource';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * API keys (GET/POST/DELETE /api/v1/api-keys): the keys services call with, their scopes and state; a new key's
 * secret is shown once, right after it is made; revoking asks first, since a service using the key stops working.
 */
export function ApiKeysPage() {
  const keys = useResource((signal) => session.api<ApiKeyList>('/api-keys', { signal }), []);
  const [created, setCreated] = useState<ApiKeyCreated | undefined>();
  const [revoking, setRevoking] = useState<ApiKey | undefined>();
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<string | undefined>();
  const [pageError, setPageError] = useState<string | undefined>();
  const [message, setMessage] = useState<{ text: string } | undefined>();
  const heading = useRef<HTMLHeadingElement>(null);
  const status = useRef<HTMLParagraphElement>(null);
  const dialogFor = useRef<string | undefined>(undefined);
  dialogFor.current = revoking?.id;

  useEffect(() => heading.current?.focus(), []);
  // After a revoke its row's button is gone (and the dialog with it): the focus goes to what happened.
  useEffect(() => {
    if (message) status.current?.focus();
  }, [message]);

  const revokeKey = async (key: ApiKey) => {
    setRevokeBusy(true);
    setRevokeError(undefined);
    setPageError(undefined);
    try {
      await session.api(`/api-keys/${key.id}`, { method: 'DELETE' });
      setRevoking(undefined);
      setMessage({ text: `Revoked ${key.name}.` });
      keys.reload();
    } catch (error) {
      // The banner sits behind the modal dialog, out of reach: close the dialog, then offer the retry there.
      if (error instanceof ApiError && error.transient) setRevoking(undefined);
      if (reportIfTransient(error, () => void revokeKey(key))) return;
      if (dialogFor.current === key.id) setRevokeError(messageOf(error));
      else setPageError(`Revoking ${key.name} failed: ${messageOf(error)}`);
    } finally {
      setRevokeBusy(false);
    }
  };

  const onCreated = (key: ApiKeyCreated) => {
    setCreated(key);
    setMessage(undefined);
    keys.reload();
  };

  const list = keys.data?.api_keys;
  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        API keys
      </h1>
      <p class="muted">
        Services call the API with a key instead of a user's sign-in; a key can do only what its scopes allow.
      </p>
      <p role="status" ref={status} tabIndex={-1} class="ok action-status">
        {message?.text ?? ''}
      </p>
      {created && <ApiKeySecret created={created} onDone={() => setCreated(undefined)} />}
      <ApiKeyForm onCreated={onCreated} />
      <section class="api-key-list" aria-labelledby="all-keys-title">
        <h2 id="all-keys-title">All keys</h2>
        {keys.error && (
          <p class="error" role="alert">
            {keys.error.message}
          </p>
        )}
        {pageError && (
          <p class="error" role="alert">
            {pageError}
          </p>
        )}
        {keys.loading && !list && <p class="muted">Loading keys…</p>}
        {list && list.length === 0 && <p class="muted">No API keys yet.</p>}
        {list && list.length > 0 && (
          <ApiKeyTable
            keys={list}
            onRevoke={(key) => {
              setRevokeError(undefined);
              setRevoking(key);
            }}
          />
        )}
      </section>
      {revoking && (
        <ConfirmDialog
          message={`Revoke ${revoking.name}? Services using this key are refused from their next request. This cannot be undone.`}
          confirmLabel={`Revoke key ${revoking.name}`}
          busy={revokeBusy}
          error={revokeError}
          onConfirm={() => void revokeKey(revoking)}
          onCancel={() => {
            setRevoking(undefined);
            setRevokeError(undefined);
          }}
        />
      )}
    </>
  );
}

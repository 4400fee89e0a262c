import { useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { session as signedIn } from '../auth-session';
import { DateTime } from '../components/date-time';
import { reportIfTransient } from '../connection-banner';
import type { Session } from '../types';
import { useResource } from '../use-resource';

interface Props {
  userId: string;
  /** Bumped by the page after a change that may end sessions (deactivate, end all, a new email...). */
  version: number;
  announce: (text: string) => void;
  changed: () => void;
}

/** The user's live sessions (where and from what they are signed in), each revocable on its own. */
export function UserSessions({ userId, version, announce, changed }: Props) {
  const list = useResource(
    (signal) => signedIn.api<{ sessions: Session[] }>(`/users/${userId}/sessions`, { signal }),
    [userId, version],
  );
  const [revoking, setRevoking] = useState<string>();
  const [error, setError] = useState<string>();

  const revoke = async (id: string) => {
    setRevoking(id);
    setError(undefined);
    try {
      await signedIn.api(`/users/${userId}/sessions/${id}`, { method: 'DELETE' });
      announce('Session revoked.');
      changed();
    } catch (caught) {
      if (!reportIfTransient(caught, () => void revoke(id))) {
        setError(caught instanceof ApiError ? caught.message : String(caught));
      }
    } finally {
      setRevoking(undefined);
    }
  };

  const sessions = list.data?.sessions;
  return (
    <section class="user-section" aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      {list.error && (
        <p class="error" role="alert">
          {list.error.message}
        </p>
      )}
      {!sessions ? (
        list.loading && <p class="muted">Loading sessions…</p>
      ) : sessions.length === 0 ? (
        <p>No live sessions.</p>
      ) : (
        <div class="table-wrap">
          <table aria-label="Sessions">
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">IP</th>
                <th scope="col" class="wide">
                  Browser
                </th>
                <th scope="col" class="wide">
                  Expires
                </th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.id}>
                  <td>
                    <DateTime iso={s.created_at} />
                    {s.current && <span class="muted"> (this session)</span>}
                  </td>
                  <td>
                    <DateTime iso={s.last_used_at} />
                  </td>
                  <td class="mono">{s.ip ?? <span class="muted">—</span>}</td>
                  <td class="wide user-agent">{s.user_agent ?? <span class="muted">—</span>}</td>
                  <td class="wide">
                    <DateTime iso={s.expires_at} />
                  </td>
                  <td>
                    <button type="button" disabled={revoking !== undefined} onClick={() => void revoke(s.id)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

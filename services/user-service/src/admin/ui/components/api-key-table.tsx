import { type ApiKey, apiKeyStatus } from './api-key-types';
import { DateTime } from './date-time';

const BADGE = { Active: 'badge on', Expired: 'badge', Revoked: 'badge off' } as const;

/**
 * Every key, newest first as the API lists them, revoked ones included. A live key's "Revoke" button sits in its
 * Status cell, so on a phone (where the wide-only columns hide) it stays in view without scrolling sideways.
 */
export function ApiKeyTable({ keys, onRevoke }: { keys: readonly ApiKey[]; onRevoke: (key: ApiKey) => void }) {
  const now = Date.now();
  return (
    <div class="table-wrap">
      <table aria-label="API keys" class="api-key-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col" class="wide">
              Prefix
            </th>
            <th scope="col">Scopes</th>
            <th scope="col" class="wide">
              Created
            </th>
            <th scope="col" class="wide">
              Last used
            </th>
            <th scope="col" class="wide">
              Expires
            </th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => {
            const status = apiKeyStatus(key, now);
            return (
              <tr key={key.id}>
                <td class="api-key-name">{key.name}</td>
                <td class="wide">
                  <code>{key.prefix}…</code>
                </td>
                <td>
                  <ul class="scope-list">
                    {key.scopes.map((scope) => (
                      <li key={scope}>
                        <code>{scope}</code>
                      </li>
                    ))}
                  </ul>
                </td>
                <td class="wide">
                  <DateTime iso={key.created_at} />
                </td>
                <td class="wide">
                  <DateTime iso={key.last_used_at} fallback="Never" />
                </td>
                <td class="wide">
                  <DateTime iso={key.expires_at} fallback="Never" />
                </td>
                <td>
                  <span class={BADGE[status]}>{status}</span>
                  {key.revoked_at && (
                    <span class="muted api-key-revoked-at">
                      {' '}
                      <DateTime iso={key.revoked_at} />
                    </span>
                  )}
                  {!key.revoked_at && (
                    <button
                      type="button"
                      class="api-key-revoke"
                      aria-label={`Revoke ${key.name}`}
                      onClick={() => onRevoke(key)}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

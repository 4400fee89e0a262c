import type { SessionRow } from './session.table.js';

/** A session as the API shows it (never a token or hash); `current`: the session of the caller's token. */
export function sessionPublic(session: SessionRow, current: string | undefined) {
  return {
    id: session.id,
    created_at: session.created_at,
    last_used_at: session.last_used_at,
    expires_at: session.expires_at,
    ip: session.ip,
    user_agent: session.user_agent,
    current: session.id === current,
  };
}

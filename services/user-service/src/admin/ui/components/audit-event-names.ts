/**
 * The audit log's event names, as the API's `event` filter accepts them: a copy of AUDIT_EVENTS in
 * services/user-service/src/audit/audit-events.ts (audit.schemas.ts takes its enum from there). Copied, not
 * imported: that module pulls in the data layer, and the console bundle must stay browser-only. A name added
 * there and not here is still listed in the table; only the "Event" filter would lack it.
 */
export const AUDIT_EVENT_NAMES = [
  'user.registered',
  'login.succeeded',
  'login.failed',
  'login.locked_out',
  'logout',
  'refresh_token.reused',
  'session.revoked',
  'password.changed',
  'password.reset_requested',
  'password.reset',
  'email.verification_sent',
  'email.verified',
  'email.changed',
  'user.created',
  'user.updated',
  'user.activated',
  'user.deactivated',
  'user.promoted',
  'user.demoted',
  'user.deleted',
  'persona.deleted',
  'api_key.created',
  'api_key.revoked',
  'signing_key.rotated',
] as const;

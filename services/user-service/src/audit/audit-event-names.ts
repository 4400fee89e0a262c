/**
 * What the audit log records, by name, and which of those a user sees of their own account. A module without
 * imports: the server (audit-events.ts, audit.schemas.ts) and the admin console's bundle (its "Event" filter)
 * read the same list.
 */
export const AUDIT_EVENTS = [
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

export type AuditEventName = (typeof AUDIT_EVENTS)[number];

/** The events a user sees of their own account (GET /users/me/audit-events): sign-ins, passwords, sessions. */
export const SECURITY_EVENTS: readonly AuditEventName[] = [
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
];

import { type SchemaOf, tableMap } from '@user-service/data';
import { apiKeysTable } from './api-keys/api-key.table.js';
import { auditEventsTable } from './audit/audit-event.table.js';
import { accountTokensTable } from './auth/account-token.table.js';
import { loginFailuresTable } from './auth/login-failure.table.js';
import { signingKeysTable } from './auth/signing-key.table.js';
import { outboxTable } from './mail/outbox.table.js';
import { personasTable } from './personas/persona.table.js';
import { refreshTokensTable } from './sessions/refresh-token.table.js';
import { sessionsTable } from './sessions/session.table.js';
import { usersTable } from './users/user.table.js';

/**
 * Every table of the service, as declared in its `*.table.ts`: the schema `migrate new --autogenerate` writes
 * migrations towards and `migrate check` compares with the database. A new table goes here.
 */
export const SERVICE_TABLES = tableMap({
  users: usersTable,
  personas: personasTable,
  sessions: sessionsTable,
  refresh_tokens: refreshTokensTable,
  api_keys: apiKeysTable,
  login_failures: loginFailuresTable,
  signing_keys: signingKeysTable,
  audit_events: auditEventsTable,
  outbox: outboxTable,
  account_tokens: accountTokensTable,
});

export const DECLARED_TABLES = Object.values(SERVICE_TABLES);

/** The service's database interface for a typed `Kysely<DB>` (see `typedQuery`): a wrong column does not compile. */
export type DB = SchemaOf<typeof SERVICE_TABLES>;

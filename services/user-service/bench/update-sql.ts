/**
 * The statements the service's PATCH /users/{id} runs for a full-name change, read from the data layer's query
 * observer while UserService.update runs once against the benchmark database: what the database update limit
 * (db-limit.ts, `update`) must run, checked on every run so the limit cannot drift from the service's SQL.
 */
import { openDatabase, type QueryEvent } from '@user-service/data';
import { PasswordHasher } from '../src/auth/password-hasher.js';
import { loadConfig } from '../src/config.js';
import { UserService } from '../src/users/user.service.js';

export interface TracedStatement {
  operation: QueryEvent['operation'];
  table: string | undefined;
  sql: string;
}

/** Runs one full-name update of `id` as the PATCH route runs it (with an audit context) and returns its SQL. */
export async function traceUpdate(databaseUrl: string, id: string): Promise<TracedStatement[]> {
  const events: TracedStatement[] = [];
  let recording = false;
  const database = await openDatabase(databaseUrl, {
    connectAttempts: 1,
    pool: { size: 1, maxOverflow: 0 },
    onQuery: (e) => {
      if (recording) events.push({ operation: e.operation, table: e.table, sql: e.sql });
    },
  });
  try {
    const { passwordHash } = loadConfig({ ...process.env, DATABASE_URL: undefined });
    const users = new UserService(database, new PasswordHasher(passwordHash));
    recording = true;
    await users.update(
      id,
      { full_name: `Traced Update ${Date.now()}` },
      {
        context: {
          actorUserId: id,
          actorApiKeyId: null,
          ip: '127.0.0.1',
          userAgent: 'bench',
          requestId: 'req-1',
        },
      },
    );
    recording = false;
    return events;
  } finally {
    await database.close();
  }
}

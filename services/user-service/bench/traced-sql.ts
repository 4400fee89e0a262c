/**
 * The service's own SQL for the database limits (db-limit.ts), read from the data layer's query observer against
 * the benchmark database in every run, so a limit cannot drift from what the service runs: the statements of
 * PATCH /users/{id} for a full-name change, and the statement of a deep list page (GET /users?skip=<90-100%>).
 */
import { openDatabase, type QueryEvent } from '@user-service/data';
import { PasswordHasher } from '../src/auth/password-hasher.js';
import { loadConfig } from '../src/config.js';
import { UserService } from '../src/users/user.service.js';
import { usersTable } from '../src/users/user.table.js';

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

/**
 * The page statement of an offset page at 95% of `total` users, as the repository builds it for GET /users (the
 * data layer may count the table first to choose its direction: that count is not part of the page). On SQLite
 * it is the far-end read (Dialect.fromTheEnd), elsewhere the deferred join.
 */
export async function traceDeepPage(databaseUrl: string, total: number): Promise<string> {
  const statements: string[] = [];
  let recording = false;
  const database = await openDatabase(databaseUrl, {
    connectAttempts: 1,
    pool: { size: 1, maxOverflow: 0 },
    onQuery: (e) => {
      if (recording) statements.push(e.sql);
    },
  });
  try {
    recording = true;
    await database.repository(usersTable).list({ skip: Math.floor(total * 0.95), limit: 20 });
    recording = false;
    const page = statements.at(-1);
    if (!page) throw new Error('the deep page ran no statement');
    return page;
  } finally {
    await database.close();
  }
}

/**
 * The service's own SQL for the database limits (db-limit.ts), read from the data layer's query observer against
 * the benchmark database in every run, so a limit cannot drift from what the service runs: the statements of
 * PATCH /users/{id} for a full-name change, and the statements of a deep list page (GET /users?skip=<90-100%>).
 */
import { type Database, openDatabase, type QueryEvent } from '@user-service/data';
import { PasswordHasher } from '../src/auth/password-hasher.js';
import { loadConfig } from '../src/config.js';
import { UserRepository } from '../src/users/user.repository.js';
import { SORTABLE } from '../src/users/user.schemas.js';
import { UserService } from '../src/users/user.service.js';
import { BENCH_JWT_SECRET } from './processes.js';

export interface TracedStatement {
  operation: QueryEvent['operation'];
  table: string | undefined;
  sql: string;
}

/**
 * The statements `work` runs on a database of its own (one connection, opened with an observer), in order:
 * only those run while `work` runs, not the connection's own set-up.
 */
async function traced(databaseUrl: string, work: (database: Database) => Promise<unknown>): Promise<TracedStatement[]> {
  const events: TracedStatement[] = [];
  let recording = false;
  const database = await openDatabase(databaseUrl, {
    connectAttempts: 1,
    pool: { size: 1, maxOverflow: 0 },
    cursorSecret: BENCH_JWT_SECRET,
    onQuery: (e) => {
      if (recording) events.push({ operation: e.operation, table: e.table, sql: e.sql });
    },
  });
  try {
    recording = true;
    await work(database);
    recording = false;
    return events;
  } finally {
    await database.close();
  }
}

/** Runs one full-name update of `id` as the PATCH route runs it (with an audit context) and returns its SQL. */
export function traceUpdate(databaseUrl: string, id: string): Promise<TracedStatement[]> {
  const { passwordHash } = loadConfig({ ...process.env, DATABASE_URL: undefined });
  return traced(databaseUrl, (database) =>
    new UserService(database, new PasswordHasher(passwordHash)).update(
      id,
      { full_name: `Traced Update ${Date.now()}` },
      { context: { actorUserId: id, actorApiKeyId: null, ip: '127.0.0.1', userAgent: 'bench', requestId: 'req-1' } },
    ),
  );
}

/** The offset of the deep page traced below: 95% of the table. */
export const deepPageSkip = (total: number) => Math.floor(total * 0.95);

/**
 * The statements of an offset page at 95% of `total` users, as the service's UserRepository runs them for GET
 * /users: on SQLite the far-end read (one statement, its count inside); on MariaDB the far end's count
 * (`page_total`) and then the page (Dialect.fromTheEndInTwoSteps; their transaction's BEGIN and COMMIT left out);
 * elsewhere the deferred join. The count that only picks the direction (at most once a second) is not part of
 * the page. What db-list-deep replays and what the plan check explains (plans.ts).
 */
export async function traceDeepPage(databaseUrl: string, total: number): Promise<string[]> {
  const statements = await traced(databaseUrl, (database) =>
    new UserRepository(database).list({ filters: {}, skip: deepPageSkip(total), limit: 20, sortable: SORTABLE }),
  );
  const page = statements.map((st) => st.sql).filter((sql) => /\bpage_total\b|\boffset\b/i.test(sql));
  if (page.length === 0) throw new Error(`no page statement among: ${statements.map((st) => st.sql).join('; ')}`);
  return page;
}

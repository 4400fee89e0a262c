/**
 * The database limit: the driver alone (better-sqlite3, pg, mysql2) running the SQL the service's repository
 * runs for get-by-id, get-by-email and a list page (21 rows: the page and one to know whether more follow), with
 * N concurrent workers in a timed loop, in its own process. Statements are prepared once where the driver can
 * (better-sqlite3, pg named statements): the limit is the driver's fastest path, not the path the service takes.
 * The list limit is the page query alone: computing `total` is work the service chooses to do on top.
 *
 * The update limit (issue 13) is the whole unit of work of PATCH /users/{id} changing a full name, statement for
 * statement as the service ran it in this run (traced by bench/traced-sql.ts from the data layer's query
 * observer): its BEGIN, the read of the user as it was, the UPDATE, any re-read, the audit-event INSERT and
 * COMMIT, each data statement prepared, on one connection per concurrent worker. Parameters are bound by the
 * column each placeholder stands for; a column this file does not know stops the run (the limit would no
 * longer be the service's work).
 *
 * Usage (run by bench/limits.ts): node --import tsx bench/db-limit.ts <spec.json>; prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { parseDatabaseUrl } from '@user-service/data';
import Sqlite from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { usersTable } from '../src/users/user.table.js';
import { placeholderColumns } from './placeholders.js';
import { percentile } from './stats.js';
import type { DbQuery } from './workloads.js';

export interface DbLimitSpec {
  url: string;
  query: DbQuery;
  concurrency: number;
  duration: number;
  total: number;
  ids: string[];
  emails: string[];
  /**
   * The service's statements (bench/traced-sql.ts): for `update`, those of one full-name change, in order; for
   * `list-deep`, the one page statement.
   */
  traced?: string[];
}

export interface DbLimitResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50: number;
  p99: number;
}

type Run = () => unknown;
type Kind = 'sqlite' | 'postgres' | 'mysql';

const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)] as T;

/** The statements of one update unit of work, with their parameters drawn afresh for every run. */
function updateStatements(kind: Kind, spec: DbLimitSpec): { sql: string; values: () => unknown[] }[] {
  if (!spec.traced?.length) throw new Error('update limit: no traced statements in the spec');
  const names = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov'];
  return spec.traced.map((sql) => {
    const columns = placeholderColumns(sql);
    return {
      sql,
      values: () => {
        const id = current.id;
        const now = kind === 'mysql' ? new Date() : new Date().toISOString();
        return columns.map((c): unknown => {
          switch (c) {
            case 'id':
              // The users row's id, or the audit event's own new id (an INSERT's first column).
              return sql.trimStart().toLowerCase().startsWith('insert') ? uuidv7() : id;
            case 'limit':
              return 1;
            case 'full_name':
              return pick(names);
            case 'updated_at':
            case 'created_at':
              return now;
            case 'event':
              return 'user.updated';
            case 'actor_user_id':
            case 'target_user_id':
              return id;
            case 'actor_api_key_id':
              return null;
            case 'ip':
              return '127.0.0.1';
            case 'user_agent':
              return 'autocannon';
            case 'request_id':
              return `req-${Math.random().toString(36).slice(2, 10)}`;
            case 'detail':
              return '{"fields":["full_name"]}';
            default:
              throw new Error(`update limit: the service's SQL binds "${c}", which db-limit.ts does not know: ${sql}`);
          }
        });
      },
    };
  });
}

/** An offset in the table's last 10%, as the list-offset-deep workload asks for. */
const deepSkip = (spec: DbLimitSpec) =>
  Math.floor(spec.total * 0.9) + Math.floor(Math.random() * (spec.total * 0.1 - 20));

/** The user the unit of work being built changes (chosen once per unit of work, before its first statement). */
const current = { id: '' };

function statement(query: Exclude<DbQuery, 'update'>, kind: Kind, spec: DbLimitSpec) {
  const q = (name: string) => (kind === 'mysql' ? `\`${name}\`` : `"${name}"`);
  let n = 0;
  const p = () => (kind === 'postgres' ? `$${++n}` : '?');
  const select = `select ${Object.keys(usersTable.columns).map(q).join(', ')} from ${q('users')}`;
  switch (query) {
    case 'by-id':
      return { sql: `${select} where ${q('id')} = ${p()} limit ${p()}`, values: () => [pick(spec.ids), 1] };
    case 'by-email':
      return { sql: `${select} where ${q('email')} = ${p()} limit ${p()}`, values: () => [pick(spec.emails), 1] };
    case 'list-shallow':
    case 'list-deep': {
      const skip = query === 'list-shallow' ? () => Math.floor(Math.random() * 100) : () => deepSkip(spec);
      // The deep page: the service's own statement (traced: the far-end read on SQLite, the deferred join
      // elsewhere), its values bound by what each placeholder stands for.
      const traced = spec.traced?.[0];
      if (query === 'list-deep' && traced) {
        const names = placeholderColumns(traced);
        const bind: Record<string, () => unknown> = { limit: () => 21, take: () => 21, offset: skip, skip };
        const unknown = names.find((name) => !(name in bind));
        if (unknown) throw new Error(`list-deep limit: the service's page binds "${unknown}": ${traced}`);
        return { sql: traced, values: () => names.map((name) => (bind[name] as () => unknown)()) };
      }
      // The service's repository reads an offset page by a deferred join (sql-repository.ts list()): the
      // skipped rows are walked as keys, the page's rows read whole.
      const columns = Object.keys(usersTable.columns)
        .map((c) => `${q('users')}.${q(c)}`)
        .join(', ');
      const keys = `select ${q('id')} from ${q('users')} order by ${q('id')} asc limit ${p()} offset ${p()}`;
      return {
        sql: `select ${columns} from (${keys}) as ${q('page')} inner join ${q('users')} on ${q('users')}.${q('id')} = ${q('page')}.${q('id')} order by ${q('page')}.${q('id')} asc`,
        values: () => [21, skip()],
      };
    }
    case 'list-cursor':
      return {
        sql: `${select} where ${q('id')} > ${p()} order by ${q('id')} asc limit ${p()}`,
        values: () => [pick(spec.ids), 21],
      };
  }
}

async function connect(spec: DbLimitSpec): Promise<{ runners: Run[]; sync: boolean; close: () => Promise<void> }> {
  const parsed = parseDatabaseUrl(spec.url);
  if (spec.query === 'update') return connectUpdate(spec, parsed);
  if (spec.query === 'list-deep' && spec.traced?.length === 2) return connectCountThenPage(spec, parsed);
  const st = statement(spec.query, parsed.kind, spec);
  if (parsed.kind === 'sqlite') {
    const db = new Sqlite(parsed.filename, { timeout: 5000 });
    const prepared = db.prepare(st.sql);
    return { runners: [() => prepared.all(...st.values())], sync: true, close: async () => void db.close() };
  }
  if (parsed.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: spec.url, max: spec.concurrency });
    const name = `bench_${spec.query.replace('-', '_')}`;
    const run = () => pool.query({ name, text: st.sql, values: st.values() });
    return { runners: Array(spec.concurrency).fill(run), sync: false, close: () => pool.end() };
  }
  // mysql2's text protocol (client-side placeholders), as Kysely's MySQL dialect uses it.
  const pool = mysql.createPool({ uri: spec.url, connectionLimit: spec.concurrency });
  const run = () => pool.query(st.sql, st.values());
  return { runners: Array(spec.concurrency).fill(run), sync: false, close: () => pool.end() };
}

/**
 * MariaDB's far-end page as the service reads it (sql-repository.ts countThenPageFromTheEnd): the traced count,
 * then the traced page with the LIMIT and OFFSET that count gives. The service's transaction around the two is
 * left out: its BEGIN and COMMIT are two round trips of well under a millisecond beside a count of a whole index.
 */
async function connectCountThenPage(
  spec: DbLimitSpec,
  parsed: ReturnType<typeof parseDatabaseUrl>,
): Promise<{ runners: Run[]; sync: boolean; close: () => Promise<void> }> {
  const [countSql, pageSql] = spec.traced as [string, string];
  if (parsed.kind !== 'mysql') throw new Error(`list-deep limit: a count and a page traced on ${parsed.kind}`);
  const names = placeholderColumns(pageSql);
  if (names.some((name) => name !== 'limit' && name !== 'offset'))
    throw new Error(`list-deep limit: the service's page binds ${names.join(', ')}: ${pageSql}`);
  const pool = mysql.createPool({ uri: spec.url, connectionLimit: spec.concurrency });
  const run = async () => {
    const [rows] = await pool.query(countSql);
    const total = Number((rows as { page_total: number }[])[0]?.page_total);
    const skip = deepSkip(spec);
    const bound = { limit: Math.max(0, Math.min(21, total - skip)), offset: Math.max(0, total - skip - 21) };
    await pool.query(
      pageSql,
      names.map((name) => bound[name as keyof typeof bound]),
    );
  };
  return { runners: Array(spec.concurrency).fill(run), sync: false, close: () => pool.end() };
}

/** The update unit of work, on one connection per concurrent worker (a transaction holds its connection). */
async function connectUpdate(
  spec: DbLimitSpec,
  parsed: ReturnType<typeof parseDatabaseUrl>,
): Promise<{ runners: Run[]; sync: boolean; close: () => Promise<void> }> {
  const statements = updateStatements(parsed.kind, spec);
  const choose = () => {
    current.id = pick(spec.ids);
  };
  if (parsed.kind === 'sqlite') {
    const db = new Sqlite(parsed.filename, { timeout: 5000 });
    const prepared = statements.map((st) => ({ st, p: db.prepare(st.sql) }));
    const run = () => {
      choose();
      for (const { st, p } of prepared) {
        const values = st.values().map((v) => (v === null || typeof v !== 'boolean' ? v : v ? 1 : 0));
        if (p.reader) p.all(...values);
        else p.run(...values);
      }
    };
    return { runners: [run], sync: true, close: async () => void db.close() };
  }
  if (parsed.kind === 'postgres') {
    const clients = await Promise.all(
      Array.from({ length: spec.concurrency }, async () => {
        const c = new pg.Client({ connectionString: spec.url });
        await c.connect();
        return c;
      }),
    );
    const runners = clients.map((c) => async () => {
      choose();
      const id = current.id;
      for (const [i, st] of statements.entries()) {
        current.id = id;
        const values = st.values();
        await (values.length ? c.query({ name: `bench_update_${i}`, text: st.sql, values }) : c.query(st.sql));
      }
    });
    return { runners, sync: false, close: async () => void (await Promise.all(clients.map((c) => c.end()))) };
  }
  const pool = mysql.createPool({ uri: spec.url, connectionLimit: spec.concurrency });
  const connections = await Promise.all(Array.from({ length: spec.concurrency }, () => pool.getConnection()));
  const runners = connections.map((c) => async () => {
    choose();
    const id = current.id;
    for (const st of statements) {
      current.id = id;
      await c.query(st.sql, st.values());
    }
  });
  return {
    runners,
    sync: false,
    close: async () => {
      for (const c of connections) c.release();
      await pool.end();
    },
  };
}

async function measure(spec: DbLimitSpec): Promise<DbLimitResult> {
  const { runners, sync, close } = await connect(spec);
  const latencies: number[] = [];
  const loop = async (run: Run, until: number, record: boolean) => {
    let now = performance.now();
    while (now < until) {
      const t = now;
      if (sync) run();
      else await run();
      now = performance.now();
      if (record) latencies.push(now - t);
    }
  };
  const phase = async (seconds: number, record: boolean) => {
    const until = performance.now() + seconds * 1000;
    await Promise.all(runners.map((run) => loop(run, until, record)));
  };
  await phase(Math.min(1, spec.duration / 5), false); // warm-up: connections, statement caches, pages in memory
  const startedAt = performance.now();
  await phase(spec.duration, true);
  const seconds = (performance.now() - startedAt) / 1000;
  await close();
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    seconds,
    opsPerSec: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

const specFile = process.argv[2];
if (specFile) {
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as DbLimitSpec;
  process.stdout.write(`${JSON.stringify(await measure(spec))}\n`);
}

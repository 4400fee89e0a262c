/**
 * The database limit: the driver alone (better-sqlite3, pg, mysql2) running the SQL the service's repository
 * runs for get-by-id, get-by-email and a list page (21 rows: the page and one to know whether more follow), with
 * N concurrent workers in a timed loop, in its own process. Statements are prepared once where the driver can
 * (better-sqlite3, pg named statements): the limit is the driver's fastest path, not the path the service takes.
 * The list limit is the page query alone: computing `total` is work the service chooses to do on top.
 *
 * Usage (run by bench/limits.ts): node --import tsx bench/db-limit.ts <spec.json>; prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { parseDatabaseUrl } from '@user-service/data';
import Sqlite from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { usersTable } from '../src/users/user.table.js';
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
}

export interface DbLimitResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50: number;
  p99: number;
}

type Run = () => unknown;

function statement(query: DbQuery, kind: 'sqlite' | 'postgres' | 'mysql', spec: DbLimitSpec) {
  const q = (name: string) => (kind === 'mysql' ? `\`${name}\`` : `"${name}"`);
  let n = 0;
  const p = () => (kind === 'postgres' ? `$${++n}` : '?');
  const select = `select ${Object.keys(usersTable.columns).map(q).join(', ')} from ${q('users')}`;
  const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)] as T;
  switch (query) {
    case 'by-id':
      return { sql: `${select} where ${q('id')} = ${p()} limit ${p()}`, values: () => [pick(spec.ids), 1] };
    case 'by-email':
      return { sql: `${select} where ${q('email')} = ${p()} limit ${p()}`, values: () => [pick(spec.emails), 1] };
    case 'list-shallow':
    case 'list-deep': {
      const skip =
        query === 'list-shallow'
          ? () => Math.floor(Math.random() * 100)
          : () => Math.floor(spec.total * 0.9) + Math.floor(Math.random() * (spec.total * 0.1 - 20));
      return { sql: `${select} order by ${q('id')} asc limit ${p()} offset ${p()}`, values: () => [21, skip()] };
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

/**
 * What a database's planner knows of a table's size, read from its own catalogue (tests of ANALYZE after bulk
 * loads: Database.analyze, the service's `seed`).
 */
import { sql } from 'kysely';
import type { Database } from '../database.js';

/** What the planner knows of the table's size: undefined when it has no statistics for it. */
export async function plannerRowCount(database: Database, table: string): Promise<number | undefined> {
  const db = database.kysely;
  if (database.kind === 'postgres') {
    // reltuples is -1 until the table has been analyzed (or vacuumed) once (PostgreSQL 14+).
    const { rows } = await sql<{ n: number }>`
      select reltuples::float8 as n from pg_class where oid = ${table}::regclass`.execute(db);
    const n = Number(rows[0]?.n);
    return n < 0 ? undefined : n;
  }
  if (database.kind === 'sqlite') {
    // sqlite_stat1 exists once any ANALYZE ran; its first number is the table's row count.
    const stat1 = await sql<{ n: number }>`
      select count(*) as n from sqlite_master where name = 'sqlite_stat1'`.execute(db);
    if (Number(stat1.rows[0]?.n) === 0) return undefined;
    const { rows } = await sql<{ stat: string }>`select stat from sqlite_stat1 where tbl = ${table}`.execute(db);
    return rows[0] ? Number(rows[0].stat.split(' ')[0]) : undefined;
  }
  // InnoDB's persistent statistics: n_rows as of the last ANALYZE (or automatic recalculation).
  const { rows } = await sql<{ n: number }>`
    select n_rows as n from mysql.innodb_table_stats
    where database_name = database() and table_name = ${table}`.execute(db);
  return rows[0] ? Number(rows[0].n) : undefined;
}

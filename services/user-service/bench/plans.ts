/**
 * Issue 13's "never a full sort" check for list pages: the service's own SQL for an offset page near the end of
 * the table, as the data layer runs it (traced from its query observer, UserRepository.list), explained by the
 * database itself: PostgreSQL `EXPLAIN`, SQLite `EXPLAIN QUERY PLAN`, MariaDB `EXPLAIN`. The plan's lines are
 * kept for the report; a sort of the table shows as `Sort` (PostgreSQL), `USE TEMP B-TREE FOR ORDER BY`
 * (SQLite) or `Using filesort` (MariaDB).
 */
import { parseDatabaseUrl } from '@user-service/data';
import Sqlite from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { DbKind } from './options.js';
import { placeholderColumns } from './placeholders.js';
import type { Sample } from './sample.js';
import { deepPageSkip, traceDeepPage } from './traced-sql.js';

interface PlanRow {
  id: number;
  parent: number;
  detail: string;
}

/** SQLite's plan rows as lines indented two spaces a level (what `.eqp` prints), so a line's place shows. */
function indented(rows: readonly PlanRow[]): string[] {
  const depth = new Map<number, number>([[0, -1]]);
  return rows.map((r) => {
    const d = (depth.get(r.parent) ?? -1) + 1;
    depth.set(r.id, d);
    return `${'  '.repeat(d)}${r.detail}`;
  });
}

/** Whether a plan line sorts rows (rather than reading them in index order). */
export const SORTS = /\bSort\b|TEMP B-TREE FOR ORDER BY|Using filesort/i;

/**
 * Whether a sorting plan line sorts the table rather than the page: MariaDB's filesort of the derived page (the
 * deferred join's outer query, at most limit + 1 rows) and a PostgreSQL Sort estimated at 100 rows or fewer sort
 * the page only. SQLite's plan gives no row counts: a temporary B-tree for ORDER BY sorts the page only when it is
 * the outer query's (not indented) and that query reads the deferred join's page (`SCAN page`, at most limit + 1
 * rows, joined to the table by key); any other counts as a full sort. `plan`: all the statement's lines (the
 * third argument of Array#filter).
 */
export function fullSort(line: string, _index?: number, plan: readonly string[] = []): boolean {
  // PostgreSQL's detail lines under a Sort node (the node's own line carries its row estimate).
  if (!SORTS.test(line) || /^\s*Sort (Key|Method)\b/.test(line)) return false;
  if (/^USE TEMP B-TREE FOR ORDER BY/.test(line)) return !plan.some((l) => /^SCAN page\b/.test(l));
  if (/Using filesort/i.test(line)) return !/<derived\d*>/.test(line);
  const rows = /\bSort\b.*\brows=(\d+)/.exec(line)?.[1];
  if (rows !== undefined) return Number(rows) > 100;
  return true;
}

/** `deep offset page` -> the plan's lines, for each select of the page (limit and offset bound). */
export async function explainLists(kind: DbKind, url: string, sample: Sample): Promise<Record<string, string[]>> {
  const skip = deepPageSkip(sample.total);
  const sqls = await traceDeepPage(url, sample.total);
  // A count before the page (MariaDB's far end): the page's LIMIT and OFFSET are what that count gives, counted
  // from the end (sql-repository.ts countThenPage); otherwise the offset is the skip itself.
  const counted = sqls.length > 1;
  const offset = counted ? Math.max(0, sample.total - skip - 21) : skip;
  const bind = (sql: string) =>
    placeholderColumns(sql).map((c) => {
      if (c === 'limit' || c === 'take') return counted ? Math.max(0, Math.min(21, sample.total - skip)) : 21;
      if (c === 'offset') return offset;
      if (c === 'skip') return skip;
      throw new Error(`plan: the list query binds "${c}": ${sql}`);
    });
  const out: Record<string, string[]> = {};
  const parsed = parseDatabaseUrl(url);
  for (const [i, sql] of sqls.entries()) {
    const key = `deep offset page (skip ${skip}), statement ${i + 1}`;
    if (parsed.kind === 'sqlite') {
      const db = new Sqlite(parsed.filename, { readonly: true });
      try {
        const rows = db.prepare(`explain query plan ${sql}`).all(...bind(sql)) as PlanRow[];
        out[key] = indented(rows);
      } finally {
        db.close();
      }
    } else if (parsed.kind === 'postgres') {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(`explain ${sql}`, bind(sql));
        out[key] = rows.map((r: Record<string, string>) => String(Object.values(r)[0]));
      } finally {
        await client.end();
      }
    } else {
      const conn = await mysql.createConnection({ uri: url });
      try {
        const [rows] = await conn.query(`explain ${sql}`, bind(sql));
        out[key] = (rows as Record<string, unknown>[]).map((r) =>
          `${r.select_type} ${r.table} type=${r.type} key=${r.key} rows=${r.rows} ${r.Extra ?? ''}`.trim(),
        );
      } finally {
        await conn.end();
      }
    }
  }
  if (kind !== parsed.kind && !(kind === 'mariadb' && parsed.kind === 'mysql')) throw new Error('plan: wrong kind');
  return out;
}

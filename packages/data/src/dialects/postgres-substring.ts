import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import { QueryTimeoutError, withQueryTimeout } from './query-timeout.js';
import { rememberedDecision } from './substring-decisions.js';

/**
 * PostgreSQL's substring search with a rare term. The trigram GIN index serves `lower(column) like '%term%'` by
 * itself, but the planner cannot tell a rare term from a common one: every such LIKE is estimated at its floor
 * of 0.01% of the rows. For a page in key order (`order by id limit 20`) it then walks the primary key in order,
 * filtering, expecting to meet the page's rows early. For a common term that is right and fast. For a rare one
 * it reads the whole table: at 10M users a one-match search passed DB_QUERY_TIMEOUT_MS (5 s)
 * and answered 503 (2026-11-25), where the index finds the row in milliseconds.
 *
 * So, as on SQLite (sqlite-substring.ts), the index is asked first how many rows match, at most RARE + 1 (after a
 * look at a sample of the table, which tells a common term cheaply), and a term with at most RARE matches is
 * served by the index explicitly: the rows' ctids are collected through the
 * index in a subquery of their own (no ORDER BY or LIMIT there, so nothing to walk) and the outer query reads
 * those rows by ctid (a TID scan) and sorts them. Measured at 10M users: a one-match term 6.6 ms, a 786-match
 * term 4.5 ms, where the walk took more than 5 s.
 */
const RARE = 2000;
/** Rows read first, from random blocks: a term found SAMPLE_COMMON times among them is taken as common. */
const SAMPLE = 500;
const SAMPLE_COMMON = 2;
/** The longest either probe may take (its connection is then discarded, as for any query timeout). */
const PROBE_TIMEOUT_MS = 250;

/**
 * Whether pg_trgm can look `term` up by its index: LIKE's trigrams come from runs of letters and digits, so a
 * term needs one run of 3 (as lowercased). Without one the index would be read whole; the scan is left to it.
 */
const indexable = (term: string) => /[\p{L}\p{N}]{3}/u.test(term.toLowerCase());

const like = (column: string, pattern: string) => sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '!'`;

/** Whether `index` should serve `contains term` on `table.column`: when at most RARE rows match. */
export async function postgresSubstringIndexServes(
  db: Kysely<any>,
  index: string,
  term: string,
  table: string,
  column: string,
  pattern: string,
): Promise<boolean> {
  if (!indexable(term)) return false;
  return rememberedDecision(`postgres\0${table}\0${index}`, term, async () => {
    const t = sql.table(table);
    // Cut short only outside a transaction: a timeout discards its connection, which inside a unit of work
    // would take the unit's transaction with it. There the pool's own query timeout applies, as to the search.
    const cutShort = !db.isTransaction;
    const bounded = <T>(query: () => Promise<T>) => (cutShort ? withQueryTimeout(PROBE_TIMEOUT_MS, query) : query());
    try {
      // First about SAMPLE rows from random blocks of the table (no index): a term found SAMPLE_COMMON times
      // among them is common, and the index is not asked. For a common term the index's answer is the costly
      // one: it reads every match's entry before the LIMIT applies (at 10M users 50-100 ms per column; search p50
      // went from 3.5 to 211 ms when every new term paid it for three columns). Random blocks, not the first
      // rows: a rare term whose few rows are the oldest ones (admin, test accounts) must not pass for common.
      const sampled = await bounded(() =>
        sql<{ n: string | number }>`select count(*) as n from ${t} tablesample system ((select
          least(100, 100.0 * ${SAMPLE} / greatest(reltuples, 1)) from pg_class where oid = ${table}::regclass))
          where ${like(column, pattern)}`.execute(db),
      );
      if (Number(sampled.rows[0]?.n) >= SAMPLE_COMMON) return false;
      // No ORDER BY: the planner has nothing to walk, and takes the index (a bitmap scan) unless the table is
      // small enough to read whole.
      const { rows } = await bounded(() =>
        sql<{ n: string | number }>`select count(*) as n from
          (select 1 from ${t} where ${like(column, pattern)} limit ${RARE + 1}) as probe`.execute(db),
      );
      return Number(rows[0]?.n) <= RARE;
    } catch (error) {
      // A term whose trigrams are everywhere while the text is nowhere ('example,com') makes the index read and
      // recheck every row. Such a probe is cut short and the term left to the scan (remembered, not asked again
      // for a minute): it costs what the search cost before this probe existed, not that twice.
      if (error instanceof QueryTimeoutError && cutShort) return false;
      throw error;
    }
  });
}

/**
 * `lower(column) like pattern`; served by the index (a rare term), the same rows by ctid: those the subquery
 * finds through the index, in the same statement and so the same snapshot.
 */
export function postgresContains(
  table: string,
  column: string,
  pattern: string,
  _term: string,
  index: string | undefined,
): Expression<SqlBool> {
  if (!index) return like(column, pattern);
  return sql<SqlBool>`${sql.ref(`${table}.ctid`)} = any(array(select ctid from ${sql.table(table)} where ${like(column, pattern)}))`;
}

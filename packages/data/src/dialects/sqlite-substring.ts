import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import { rememberedDecision } from './substring-decisions.js';

/**
 * SQLite's substring index (see Dialect.createSubstringIndex): an FTS5 table with the trigram tokenizer, named
 * like the index, over `table.column` as external content (it stores only the index, keyed by the table's
 * rowid), kept in step by three triggers. `lower(col) like '%term%'` cannot use it by itself: `contains` asks
 * the FTS table for candidate rowids first (containsCondition).
 *
 * case_sensitive 0 folds case (Unicode simple folding, one character to one character) on both the indexed text
 * and the searched phrase, so every row whose lower(column) contains the term is a candidate; the LIKE recheck
 * then keeps exactly the rows the plain scan matches. The FTS index knows rows by rowid: VACUUM may renumber the
 * rowids of a table without an INTEGER PRIMARY KEY, so after a VACUUM run `rebuildSqliteSubstringIndex`.
 */

/**
 * A phrase in double quotes is matched literally (FTS5 query syntax); a quote inside is doubled. Built from the
 * term as the LIKE pattern lowercases it (containsPattern): folding is per character, so the phrase then folds
 * to what the rows the LIKE matches hold. The term as given may not: 'İ' lowercases to 'i' + U+0307, which the
 * scan finds in 'i̇stanbul', but FTS5 folds 'İ' to a single character that is not in it.
 */
const phrase = (term: string) => `"${term.toLowerCase().replaceAll('"', '""')}"`;

/**
 * Whether the index can look `term` up: it needs one trigram (3 characters, as lowercased), and FTS5's query
 * parser reads a phrase as a C string, so a NUL ends it ("unterminated string", an error instead of rows). A
 * term whose lowercase holds U+0307 (what 'İ' lowercases to, after an 'i') is left to the scan: lower() (the
 * connection's, JavaScript's toLowerCase, see sqlite.ts) turns 'İZMIR' into 'i̇zmir', but FTS5 folds 'İ' to one
 * character, so the index would not offer that row for 'i̇zm' while the LIKE matches it.
 */
const indexable = (term: string) => {
  const lower = term.toLowerCase();
  return [...lower].length >= 3 && !term.includes('\0') && !lower.includes('\u0307');
};

const triggers = (name: string) => ({ insert: `${name}_ai`, delete: `${name}_ad`, update: `${name}_au` });

export async function createSqliteSubstringIndex(
  db: Kysely<any>,
  name: string,
  table: string,
  column: string,
  ifMissing = false,
): Promise<void> {
  if (ifMissing) {
    const existing = await sql<{ n: number }>`select count(*) as n from sqlite_master where name = ${name}`.execute(db);
    if (Number(existing.rows[0]?.n) > 0) return;
  }
  const fts = sql.table(name);
  const col = sql.ref(column);
  const t = triggers(name);
  // content_rowid names the table's own rowid: the FTS index holds (trigram -> rowids) and reads nothing else back.
  // columnsize=0: no per-row token counts (the %_docsize table), which only ranking (bm25) reads; a substring
  // search matches a phrase and rechecks with LIKE. One write fewer per row, 9.6 MB less per index at 1M users.
  // Tables made before this option keep their %_docsize table and work the same.
  await sql`create virtual table ${fts} using fts5(${col}, content=${sql.lit(table)}, content_rowid='rowid',
    tokenize='trigram case_sensitive 0', columnsize=0)`.execute(db);
  // An external-content index is told what each row held: the old value on delete, old then new on update.
  await sql`create trigger ${sql.id(t.insert)} after insert on ${sql.table(table)} begin
    insert into ${fts}(rowid, ${col}) values (new.rowid, new.${col});
  end`.execute(db);
  await sql`create trigger ${sql.id(t.delete)} after delete on ${sql.table(table)} begin
    insert into ${fts}(${fts}, rowid, ${col}) values ('delete', old.rowid, old.${col});
  end`.execute(db);
  await sql`create trigger ${sql.id(t.update)} after update of ${col} on ${sql.table(table)} begin
    insert into ${fts}(${fts}, rowid, ${col}) values ('delete', old.rowid, old.${col});
    insert into ${fts}(rowid, ${col}) values (new.rowid, new.${col});
  end`.execute(db);
  // Rows already there: one pass over the table, not a statement per row.
  await rebuildSqliteSubstringIndex(db, name, table, column);
}

/**
 * Builds the index again from the table's current rows (after a bulk load without it, or a VACUUM): what FTS5's
 * own 'rebuild' does (empty the index, index every row of the content table), but reading the rows in rowid
 * order. 'rebuild' reads them in the order the planner picks, which for a column with a unique index is that
 * index's (a covering scan), so rowids arrive unordered and FTS5 flushes its pending terms at every step back:
 * 200k seeded users, email 5.9 s CPU through 'rebuild' against 2.7 s in rowid order (username 4.0 vs 2.0 s).
 */
export async function rebuildSqliteSubstringIndex(
  db: Kysely<any>,
  name: string,
  table: string,
  column: string,
): Promise<void> {
  const fts = sql.table(name);
  const col = sql.ref(column);
  await sql`insert into ${fts}(${fts}) values ('delete-all')`.execute(db);
  // FTS5 writes its pending terms out as a new segment every megabyte or so and, with 'automerge' at its default
  // (4), merges as soon as 4 segments share a level: a build of 1M rows merges the same postings again and again.
  // Merging at 16 a level during the build, then back to the default and merging what is left ('merge' until it
  // does no more work), built the email index of 1M users in 6.8 + 1.1 s CPU instead of 9.5 s, into fewer
  // segments than before (4.8k %_idx rows instead of 11.4k), phrase lookups as fast or faster.
  await setAutomerge(db, name, BUILD_AUTOMERGE);
  await sql`insert into ${fts}(rowid, ${col}) select rowid, ${col} from ${sql.table(table)} order by rowid`.execute(db);
  await setAutomerge(db, name, DEFAULT_AUTOMERGE);
  await mergeSegments(db, name);
}

const BUILD_AUTOMERGE = 16;
/** FTS5's own default, what the triggers' writes merge by. */
const DEFAULT_AUTOMERGE = 4;
/** Pages of merge work per 'merge' statement. */
const MERGE_PAGES = 1000;

async function setAutomerge(db: Kysely<any>, name: string, segments: number): Promise<void> {
  const fts = sql.table(name);
  // A literal: FTS5 takes the value only as an integer, and a bound JavaScript number may arrive as a real.
  await sql`insert into ${fts}(${fts}, rank) values ('automerge', ${sql.lit(segments)})`.execute(db);
}

/** Merges levels holding 4 or more segments ('usermerge') until there is none: FTS5's documented loop. */
async function mergeSegments(db: Kysely<any>, name: string): Promise<void> {
  const fts = sql.table(name);
  const changes = async () =>
    Number((await sql<{ n: number }>`select total_changes() as n`.execute(db)).rows[0]?.n ?? 0);
  for (;;) {
    const before = await changes();
    await sql`insert into ${fts}(${fts}, rank) values ('merge', ${sql.lit(MERGE_PAGES)})`.execute(db);
    // "If the difference is less than 2, the 'merge' command did no work" (FTS5 documentation).
    if ((await changes()) - before < 2) return;
  }
}

export async function dropSqliteSubstringIndex(db: Kysely<any>, name: string): Promise<void> {
  for (const trigger of Object.values(triggers(name))) await sql`drop trigger if exists ${sql.id(trigger)}`.execute(db);
  await sql`drop table if exists ${sql.table(name)}`.execute(db);
}

/**
 * `lower(column) like pattern`, served by the substring index: the rows whose column holds the term's trigrams
 * as one phrase (the FTS match), each then checked by the LIKE itself, so the result is the scan's to the row.
 * A term of fewer than 3 characters has no trigram to look up: it keeps the scan.
 */
export function sqliteContains(
  table: string,
  column: string,
  pattern: string,
  term: string,
  index: string | undefined,
): Expression<SqlBool> {
  const like = foldedLike(column, pattern);
  if (!index || !indexable(term)) return like;
  const fts = sql.table(index);
  return sql<SqlBool>`(${sql.ref(`${table}.rowid`)} in (select rowid from ${fts} where ${fts} match ${phrase(term)})
    and ${like})`;
}

/**
 * `lower(column) like pattern` with the connection's lower() (JavaScript's toLowerCase, see sqlite.ts), which
 * costs a call into JavaScript per row: a scan for a common term made three per row it passed, and search under
 * load fell to a quarter (1M users, 2026-11-25). For a pattern of ASCII characters only, SQLite's own LIKE,
 * which folds A-Z, gives the same answer on every row that is ASCII only; so only rows holding another
 * character (length in characters differs from length in bytes) go through lower(). The same rows match:
 * where the plain LIKE matches, the lowered text holds the same ASCII run; where it does not and the row is
 * ASCII, lowering changes nothing but A-Z, which it already folded.
 */
function foldedLike(column: string, pattern: string): Expression<SqlBool> {
  const col = sql.ref(column);
  const lowered = sql<SqlBool>`lower(${col}) like ${pattern} escape '!'`;
  if (!isAscii(pattern)) return lowered;
  return sql<SqlBool>`(${col} like ${pattern} escape '!' or (length(${col}) <> octet_length(${col}) and ${lowered}))`;
}

/** ASCII without NUL (a NUL in a LIKE pattern ends it for SQLite: that term keeps the lower() path). */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0 || code > 0x7f) return false;
  }
  return true;
}

/**
 * Whether the index should serve `contains term`: when the term is rare. SQLite's planner cannot tell (an FTS
 * table's cost estimate is the same for every phrase), and always reading the candidates from the index is
 * slow for a common term: at 1M users the service's search (page of 20 in key order + count up to 100) took
 * 260 ms p50 for the bench's 3-4 character name pieces through FTS (every match fetched and sorted, ~100k per
 * column) against 10 ms scanning in key order, which stops after the page's matches. A rare term is the
 * other way round (2.5 s scanning the whole table, 7 ms through FTS). So the index is asked first, at most
 * RARE + 1 rows (0.1-2 ms at 1M users), and serves the term only when it has at most RARE matches.
 */
const RARE = 1000;

export async function sqliteSubstringIndexServes(db: Kysely<any>, index: string, term: string): Promise<boolean> {
  if (!indexable(term)) return false;
  return rememberedDecision(`sqlite\0${index}`, term, async () => {
    const fts = sql.table(index);
    const { rows } = await sql<{ n: number }>`select count(*) as n from
      (select 1 from ${fts} where ${fts} match ${phrase(term)} limit ${RARE + 1})`.execute(db);
    return Number(rows[0]?.n) <= RARE;
  });
}

/** The FTS tables of substring indexes, as introspection reports them: an index on the content table's column. */
export async function sqliteSubstringIndexes(
  kysely: Kysely<any>,
): Promise<{ table: string; name: string; column: string }[]> {
  const rows = await sql<{ name: string; sql: string }>`
    select name, sql from sqlite_master
    where type = 'table' and sql like 'create virtual table%fts5(%trigram%'
    order by name`.execute(kysely);
  const out: { table: string; name: string; column: string }[] = [];
  for (const r of rows.rows) {
    const table = /content='([^']+)'/.exec(r.sql)?.[1];
    const columns = await sql<{ name: string }>`select name from pragma_table_info(${r.name})`.execute(kysely);
    const column = columns.rows[0]?.name;
    if (table && column) out.push({ table, name: r.name, column });
  }
  return out;
}

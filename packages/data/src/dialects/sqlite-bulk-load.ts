/**
 * SQLite's bulk load: one multi-row INSERT statement, prepared once (the connection's statement cache) and run
 * again for every chunk, all in one BEGIN IMMEDIATE transaction with the index drop and rebuild, unique indexes
 * included where they can be (DDL is transactional here: a failure anywhere, a duplicate found by a unique
 * index's rebuild included, rolls back everything). Then ANALYZE.
 */
import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { BulkLoad } from './dialect.js';

/** SQLite's bound on parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER, 32766 since 3.32). */
const MAX_PARAMETERS = 32_766;
/** Rows per INSERT (default): a few thousand parameters a statement. */
const STATEMENT_ROWS = 500;

/**
 * Connection settings that make the load faster and are safe for it, with the value each is restored to:
 * a page cache large enough to hold every page the load writes until the commit (default 2 MB; 1M users are
 * ~900 MB of table, indexes and FTS tables), and the index builds' sorts in memory rather than in temporary
 * files. With 256 MB, pages spilled to the WAL mid-transaction and were written again as the indexes grew.
 * The cache is a bound, pages are allocated as used. Neither affects durability; synchronous and journal_mode
 * stay as the connection has them (WAL, NORMAL: a crash cannot corrupt the file or commit half the load).
 */
const PRAGMAS = { cache_size: -1_048_576, temp_store: 2 } as const;

interface UniqueIndex {
  name: string;
  sql: string;
}

/**
 * The table's unique indexes the load takes down and builds again from their own CREATE statement (kept in
 * sqlite_master): one sorted build instead of a B-tree insertion a row at a random place (emails, usernames).
 * Rebuilt inside the load's transaction, such an index still refuses a duplicate (SQLITE_CONSTRAINT_UNIQUE, as
 * the insert would) and the rollback leaves nothing. Only CREATE UNIQUE INDEX ones (origin 'c'): a UNIQUE or
 * PRIMARY KEY constraint's index cannot be dropped. Not one whose columns a foreign key refers to: SQLite looks
 * the parent key up through it.
 */
async function droppableUniqueIndexes(conn: Kysely<any>, table: string): Promise<UniqueIndex[]> {
  const { rows } = await sql<UniqueIndex>`
    select m.name, m.sql from sqlite_master m
    join pragma_index_list(${table}) l on l.name = m.name
    where m.type = 'index' and m.sql is not null and l."unique" = 1 and l.origin = 'c'
      and not exists (
        select 1 from sqlite_master t, pragma_foreign_key_list(t.name) f, pragma_index_info(m.name) c
        where t.type = 'table' and f."table" = ${table} and f."to" = c.name)
    order by m.name`.execute(conn);
  return rows;
}

function encode(value: unknown): unknown {
  if (value === true) return 1;
  if (value === false) return 0;
  return value ?? null;
}

export async function sqliteBulkLoad(kysely: Kysely<any>, load: BulkLoad): Promise<number> {
  const width = load.columns.length;
  const size = Math.max(1, Math.min(load.rowsPerStatement ?? STATEMENT_ROWS, Math.floor(MAX_PARAMETERS / width)));
  const head = `insert into "${load.table.replace(/"/g, '""')}" (${load.columns
    .map((c) => `"${c.name.replace(/"/g, '""')}"`)
    .join(', ')}) values `;
  const tuple = `(${Array(width).fill('?').join(', ')})`;
  const statement = (rows: number) => head + Array(rows).fill(tuple).join(', ');
  const full = statement(size);
  // Substring indexes (FTS5 trigram tables kept by triggers) are dropped and built again too: one pass over the
  // loaded table in rowid order (rebuildSqliteSubstringIndex) costs half the per-row triggers (200k seeded users,
  // CPU: email + username + full name 5.5 s built after vs 11.1 s through the triggers during the load).
  const rebuilt = load.indexes;
  let loaded = 0;
  await kysely.connection().execute(async (conn) => {
    const saved: Record<string, unknown> = {};
    for (const name of Object.keys(PRAGMAS)) {
      const { rows } = await sql<Record<string, unknown>>`select * from ${sql.raw(`pragma_${name}`)}`.execute(conn);
      saved[name] = Object.values(rows[0] ?? {})[0];
    }
    try {
      for (const [name, value] of Object.entries(PRAGMAS)) await sql.raw(`pragma ${name} = ${value}`).execute(conn);
      await sql`begin immediate`.execute(conn);
      try {
        // Unique indexes come down only with the others (load.indexes is empty when the load keeps them).
        const unique = rebuilt.length > 0 ? await droppableUniqueIndexes(conn, load.table) : [];
        for (const index of unique) await sql`drop index ${sql.id(index.name)}`.execute(conn);
        await load.dropIndexes(conn, rebuilt);
        let parameters: unknown[] = [];
        for await (const batch of load.rows) {
          for (const values of batch) {
            for (const value of values) parameters.push(encode(value));
            if (parameters.length < size * width) continue;
            await conn.executeQuery(CompiledQuery.raw(full, parameters));
            loaded += size;
            load.onProgress?.(loaded);
            parameters = [];
          }
        }
        if (parameters.length > 0) {
          await conn.executeQuery(CompiledQuery.raw(statement(parameters.length / width), parameters));
          loaded += parameters.length / width;
          load.onProgress?.(loaded);
        }
        // The unique ones first: a duplicate fails before the longer builds.
        for (const index of unique) await sql.raw(index.sql).execute(conn);
        await load.createIndexes(conn, rebuilt);
        await sql`commit`.execute(conn);
      } catch (error) {
        await sql`rollback`.execute(conn);
        throw error;
      }
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (typeof value === 'number') await sql.raw(`pragma ${name} = ${value}`).execute(conn);
      }
    }
    await sql`analyze ${sql.table(load.table)}`.execute(conn);
  });
  return loaded;
}

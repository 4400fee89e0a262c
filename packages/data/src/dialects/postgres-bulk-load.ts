/**
 * PostgreSQL's bulk load: COPY ... FROM STDIN in text format, in one transaction with the index drop and the
 * rebuild of the unique indexes (DDL is transactional here: a failure in it, a duplicate found by a unique index's
 * rebuild included, rolls back everything); then the other indexes, built in parallel on connections of their
 * own after the commit (buildIndexes); then VACUUM (ANALYZE), which cannot run inside a transaction.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DataError } from '../errors.js';
import type { BulkLoad } from './dialect.js';

/** Rows per chunk written to the COPY stream (default): large enough that per-write costs vanish. */
const CHUNK_ROWS = 2_000;

// COPY text format: a backslash, the delimiter (tab), newline and carriage return inside a value must be escaped
// with a backslash; `\N` is NULL. Everything else, unicode included, goes as it is (the client encoding is UTF8).
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPED = /[\\\t\n\r]/g;

/** One value as COPY's text format spells it. */
export function copyTextValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (value === true) return 't';
  if (value === false) return 'f';
  const text = typeof value === 'string' ? value : String(value);
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPED, (c) => ESCAPES[c] as string) : text;
}

/** One row as a line of COPY's text format. */
export function copyTextLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : '\t') + copyTextValue(values[i]);
  return `${line}\n`;
}

async function* chunks(load: BulkLoad, count: { rows: number }): AsyncGenerator<string> {
  const size = Math.max(1, load.rowsPerStatement ?? CHUNK_ROWS);
  let chunk = '';
  let inChunk = 0;
  for await (const batch of load.rows) {
    for (const values of batch) {
      chunk += copyTextLine(values);
      if (++inChunk < size) continue;
      yield chunk;
      count.rows += inChunk;
      load.onProgress?.(count.rows);
      chunk = '';
      inChunk = 0;
    }
  }
  if (inChunk > 0) {
    yield chunk;
    count.rows += inChunk;
    load.onProgress?.(count.rows);
  }
}

interface UniqueIndex {
  name: string;
  definition: string;
}

/**
 * The table's unique indexes the load takes down and builds again from their own definition (pg_get_indexdef):
 * one sorted build instead of a B-tree insertion a row at a random place (emails, usernames), which at 1M users
 * no longer stays in shared_buffers. Rebuilt inside the load's transaction, such an index still refuses a
 * duplicate (23505, "Key (email)=(...) is duplicated.") and the rollback leaves nothing. Not the primary key, and
 * not an index a constraint owns or uses (a UNIQUE constraint's, a foreign key's referenced key): PostgreSQL
 * refuses to drop those.
 */
async function droppableUniqueIndexes(db: Kysely<any>, table: string): Promise<UniqueIndex[]> {
  const { rows } = await sql<UniqueIndex>`
    select c.relname as name, pg_get_indexdef(x.indexrelid) as definition
    from pg_index x join pg_class c on c.oid = x.indexrelid
    where x.indrelid = quote_ident(${table})::regclass and x.indisunique and not x.indisprimary
      and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)
    order by c.relname`.execute(db);
  return rows;
}

/** Index builds at once, each on a connection of its own: PostgreSQL 15 builds a GIN index in one process. */
const PARALLEL_BUILDS = 2;
/** Memory for each build's sort (default 64 MB), set for its own transaction only. 1 GB was no faster at 1M users. */
const BUILD_MEMORY = '256MB';

/**
 * Builds the dropped secondary indexes again after the load committed, PARALLEL_BUILDS at a time, the substring
 * (trigram GIN) ones first, as the longest. At 1M users the three GIN builds took 26 + 17 + 9 s one after the
 * other, which is most of the load. Other connections cannot see an uncommitted load, so this comes after the
 * commit: the rows are there before their non-unique indexes are (uniqueness is checked before the commit, see
 * droppableUniqueIndexes). A build that fails (or a process that dies meanwhile) leaves the rows loaded and those
 * indexes missing, and the error names them. Measured at 1M users on this 2-core
 * machine shared with other work: the builds 58-67 s one after the other, 46 s two at a time.
 */
async function buildIndexes(openPool: () => pg.Pool, load: BulkLoad): Promise<void> {
  const queue = [...load.indexes].sort((a, b) => Number(b.substring ?? false) - Number(a.substring ?? false));
  const failed: { name: string; error: unknown }[] = [];
  const worker = async () => {
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: openPool() }) });
    try {
      for (let index = queue.shift(); index; index = queue.shift()) {
        try {
          await db.transaction().execute(async (trx) => {
            await sql`set local maintenance_work_mem = ${sql.lit(BUILD_MEMORY)}`.execute(trx);
            await load.createIndexes(trx, [index]);
          });
        } catch (error) {
          failed.push({ name: index.name, error });
        }
      }
    } finally {
      await db.destroy();
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_BUILDS, queue.length) }, worker));
  if (failed.length > 0) {
    throw new DataError(
      `bulkLoad: the rows of ${load.table} are loaded, but index(es) ${failed.map((f) => f.name).join(', ')} could not be built again (create them by hand)`,
      { cause: failed[0]?.error },
    );
  }
}

/**
 * Runs the load on a connection of its own from `openPool()` (COPY needs the pg client itself, which Kysely does
 * not expose); the DDL goes through a Kysely bound to that same connection, so it is one transaction.
 */
export async function postgresBulkLoad(kysely: Kysely<any>, openPool: () => pg.Pool, load: BulkLoad): Promise<number> {
  const pool = openPool();
  const count = { rows: 0 };
  try {
    const client = await pool.connect();
    try {
      // Kysely over this one client: its release is the caller's (below), not Kysely's.
      const single = { connect: async () => ({ query: client.query.bind(client), release() {} }), end: async () => {} };
      const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: single as never }) });
      await db.transaction().execute(async (trx) => {
        // Index builds sort in memory up to this bound (default 64 MB): the unique ones, built here.
        await sql`set local maintenance_work_mem = ${sql.lit(BUILD_MEMORY)}`.execute(trx);
        // Unique indexes come down only with the others (load.indexes is empty when the load keeps them).
        const unique = load.indexes.length > 0 ? await droppableUniqueIndexes(trx, load.table) : [];
        for (const index of unique) await sql`drop index ${sql.id(index.name)}`.execute(trx);
        await load.dropIndexes(trx, load.indexes);
        const columns = sql.join(load.columns.map((c) => sql.id(c.name)));
        const copy = sql`copy ${sql.table(load.table)} (${columns}) from stdin`.compile(trx);
        await pipeline(Readable.from(chunks(load, count)), client.query(copyFrom(copy.sql)));
        // The unique ones first: a duplicate fails before the longer builds.
        for (const index of unique) await sql.raw(index.definition).execute(trx);
      });
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
  await buildIndexes(openPool, load);
  // Statistics, and the visibility map: without it an index-only scan still reads every heap page it covers
  // (deep pages of a list walk ix_users_created_at). VACUUM cannot run inside a transaction block.
  await sql`vacuum (analyze) ${sql.table(load.table)}`.execute(kysely);
  return count.rows;
}

/**
 * PostgreSQL's bulk load: COPY ... FROM STDIN in text format, in one transaction with the index drop and rebuild
 * (DDL is transactional here: a failure anywhere, a duplicate found by a unique index's rebuild included, rolls
 * back everything), then VACUUM (ANALYZE), which cannot run inside a transaction.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
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
        // Index builds sort in memory up to this bound (default 64 MB); a trigram GIN build over millions of
        // rows is several times faster with room. For this transaction only.
        await sql`set local maintenance_work_mem = '256MB'`.execute(trx);
        await load.dropIndexes(trx, load.indexes);
        const columns = sql.join(load.columns.map((c) => sql.id(c.name)));
        const copy = sql`copy ${sql.table(load.table)} (${columns}) from stdin`.compile(trx);
        await pipeline(Readable.from(chunks(load, count)), client.query(copyFrom(copy.sql)));
        await load.createIndexes(trx, load.indexes);
      });
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
  // Statistics, and the visibility map: without it an index-only scan still reads every heap page it covers
  // (deep pages of a list walk ix_users_created_at). VACUUM cannot run inside a transaction block.
  await sql`vacuum (analyze) ${sql.table(load.table)}`.execute(kysely);
  return count.rows;
}

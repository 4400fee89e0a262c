/**
 * MySQL/MariaDB's bulk load: multi-row INSERTs in one transaction. DDL is not transactional here (each DROP or
 * CREATE INDEX commits on its own), so the indexes are dropped before the transaction and built again after it,
 * whether the load committed or rolled back; unique indexes are never dropped (see indexesToRebuild), so a
 * duplicate fails the load's transaction and no row of it stays. Then ANALYZE TABLE.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { BulkLoad } from './dialect.js';

/** Rows per INSERT (default). */
const STATEMENT_ROWS = 1_000;

/** DATETIME(3) takes 'YYYY-MM-DD HH:MM:SS.mmm' (UTC, as the pool's timezone 'Z' writes Dates). */
function encode(value: unknown, timestamp: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (timestamp) return (value as string).replace('T', ' ').replace('Z', '');
  return value;
}

export async function mysqlBulkLoad(
  kysely: Kysely<any>,
  analyze: (db: Kysely<any>) => Promise<void>,
  load: BulkLoad,
): Promise<number> {
  const width = load.columns.length;
  const timestamps = load.columns.map((c) => c.type === 'timestamp');
  const size = Math.max(1, load.rowsPerStatement ?? STATEMENT_ROWS);
  const head = `insert into \`${load.table.replace(/`/g, '``')}\` (${load.columns
    .map((c) => `\`${c.name.replace(/`/g, '``')}\``)
    .join(', ')}) values `;
  const tuple = `(${Array(width).fill('?').join(', ')})`;
  const statement = (rows: number) => head + Array(rows).fill(tuple).join(', ');
  const full = statement(size);
  let loaded = 0;
  await load.dropIndexes(kysely, load.indexes);
  let failure: unknown;
  try {
    await kysely.transaction().execute(async (trx) => {
      let parameters: unknown[] = [];
      for await (const batch of load.rows) {
        for (const values of batch) {
          for (let i = 0; i < width; i++) parameters.push(encode(values[i], timestamps[i] as boolean));
          if (parameters.length < size * width) continue;
          await trx.executeQuery(CompiledQuery.raw(full, parameters));
          loaded += size;
          load.onProgress?.(loaded);
          parameters = [];
        }
      }
      if (parameters.length > 0) {
        await trx.executeQuery(CompiledQuery.raw(statement(parameters.length / width), parameters));
        loaded += parameters.length / width;
        load.onProgress?.(loaded);
      }
    });
  } catch (error) {
    failure = error;
  }
  try {
    await load.createIndexes(kysely, load.indexes);
  } catch (error) {
    // The load's own failure is what the caller needs to hear about first; the rebuild's is its consequence.
    throw failure ?? error;
  }
  if (failure) throw failure;
  await analyze(kysely);
  return loaded;
}

import { type Kysely, sql } from 'kysely';
import type { Replication } from './dialect.js';

/**
 * PostgreSQL streaming replication positions: WAL LSNs ("16/B374D848", two 32-bit hex halves), read as one
 * 64-bit number so positions compare with `<`. The primary's `pg_current_wal_insert_lsn()` read after a commit
 * is past that commit's record (the insert position, not `pg_current_wal_lsn()`, the write position: with
 * `synchronous_commit = off` a commit record may still sit in the WAL buffers, behind the write position); a
 * standby's `pg_last_wal_replay_lsn()` is how far it has applied, so a standby at or past the former shows
 * the commit.
 */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  if (!match) throw new Error(`not a WAL position: ${lsn}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** WAL page header sizes (64-bit builds): the first page of a segment has the long one. */
const SHORT_PAGE_HEADER = 24n;
const LONG_PAGE_HEADER = 40n;

/**
 * The insert position in the convention of record ends. When no record has begun on the current WAL page yet,
 * the insert position points past that page's header (the start of the next record), while the same byte is
 * reported as the page boundary by a standby's replay position (the end of the last record). Measured here:
 * after pg_switch_wal() on an idle primary, insert 0/4000028, replica replay 0/4000000, for as long as nothing
 * else is written. Unadjusted, a caught-up replica looked behind until the next write (out of the rotation
 * after DATABASE_REPLICA_MAX_LAG_MS: idle primaries with archive_timeout switch segments regularly), and a token
 * taken there could not be met by any replica. Both positions name the same byte, so the adjusted one is still
 * past every commit acknowledged before it was read.
 */
export function recordEnd(position: bigint, segmentOffset: bigint, blockSize: bigint): bigint {
  if (segmentOffset === LONG_PAGE_HEADER) return position - LONG_PAGE_HEADER;
  if (segmentOffset % blockSize === SHORT_PAGE_HEADER) return position - SHORT_PAGE_HEADER;
  return position;
}

export const postgresReplication: Replication = {
  async primaryPosition(kysely: Kysely<any>): Promise<bigint> {
    const { rows } = await sql<{ lsn: string; segment_offset: string | number; block_size: string | number }>`
      select l::text as lsn, o.file_offset as segment_offset, current_setting('wal_block_size') as block_size
      from pg_current_wal_insert_lsn() as l, pg_walfile_name_offset(l) as o`.execute(kysely);
    const row = rows[0]!;
    return recordEnd(parseLsn(row.lsn), BigInt(row.segment_offset), BigInt(row.block_size));
  },

  async replayedPosition(kysely: Kysely<any>): Promise<bigint | undefined> {
    // NULL on a server that is not a standby (or has replayed nothing yet): it cannot serve as a replica.
    const { rows } = await sql<{ lsn: string | null }>`
      select case when pg_is_in_recovery() then pg_last_wal_replay_lsn()::text end as lsn`.execute(kysely);
    const lsn = rows[0]?.lsn;
    return lsn ? parseLsn(lsn) : undefined;
  },
};

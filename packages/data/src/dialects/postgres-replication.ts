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

export const postgresReplication: Replication = {
  async primaryPosition(kysely: Kysely<any>): Promise<bigint> {
    const { rows } = await sql<{ lsn: string }>`select pg_current_wal_insert_lsn()::text as lsn`.execute(kysely);
    return parseLsn(rows[0]!.lsn);
  },

  async replayedPosition(kysely: Kysely<any>): Promise<bigint | undefined> {
    // NULL on a server that is not a standby (or has replayed nothing yet): it cannot serve as a replica.
    const { rows } = await sql<{ lsn: string | null }>`
      select case when pg_is_in_recovery() then pg_last_wal_replay_lsn()::text end as lsn`.execute(kysely);
    const lsn = rows[0]?.lsn;
    return lsn ? parseLsn(lsn) : undefined;
  },
};

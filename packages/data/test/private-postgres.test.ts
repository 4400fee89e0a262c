/**
 * The private PostgreSQL test support itself: a primary and a streaming hot standby of its own (initdb,
 * pg_basebackup -R -X stream), replication lag made visible with recovery_min_apply_delay, and a replica
 * that stops. Needs root and PostgreSQL 15's tools; without them it reports itself skipped, except with CI=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { PrivatePostgres, privatePostgresUnavailable } from '../src/testing/private-postgres.js';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const unavailable = await privatePostgresUnavailable();

const APPLY_DELAY_MS = 2_000;

/** Polls until `check` is true; returns how long that took (ms) or throws after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not true within ${timeoutMs} ms`);
}

describe('PrivatePostgres: a primary and a streaming replica of its own', { timeout: 120_000 }, () => {
  let primary: PrivatePostgres | undefined;
  let replica: PrivatePostgres | undefined;

  const skipOrFail = (t: TestContext): boolean => {
    if (!unavailable) return false;
    if (inCi) throw new Error(`${unavailable}: CI=true requires the replica support to run`);
    t.skip(unavailable);
    return true;
  };

  before(async () => {
    if (unavailable) return;
    const started = performance.now();
    primary = new PrivatePostgres();
    await primary.init();
    await primary.start();
    const primaryMs = performance.now() - started;
    replica = await PrivatePostgres.replicaOf(primary, { applyDelayMs: APPLY_DELAY_MS });
    const totalMs = performance.now() - started;
    console.log(
      `set-up: primary ${Math.round(primaryMs)} ms, replica ${Math.round(totalMs - primaryMs)} ms, total ${Math.round(totalMs)} ms`,
    );
  });

  after(async () => {
    await replica?.destroy();
    await primary?.destroy();
  });

  it('the replica is a hot standby of the primary, on a port of its own', async (t) => {
    if (skipOrFail(t) || !primary || !replica) return;
    assert.notEqual(replica.port, primary.port);
    const [standby] = await replica.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    assert.equal(standby?.r, true);
    const [main] = await primary.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    assert.equal(main?.r, false);
    const senders = await primary.query<{ state: string }>('select state from pg_stat_replication');
    assert.deepEqual(
      senders.map((s) => s.state),
      ['streaming'],
    );
    await assert.rejects(replica.query('create table not_here (id int)'), /read-only transaction/);
  });

  it('a commit on the primary shows on the replica only after the apply delay, and at once without it', async (t) => {
    if (skipOrFail(t) || !primary || !replica) return;
    const p = primary;
    const r = replica;
    await p.query('create table replicated (id int primary key, name text)');
    // The table itself arrives after the delay too.
    await until(async () => (await r.query("select to_regclass('replicated') as t"))[0]?.t !== null, 10_000);

    await p.query("insert into replicated values (1, 'delayed')");
    const committed = performance.now();
    const count = async () => Number((await r.query<{ n: string }>('select count(*) as n from replicated'))[0]?.n);
    assert.equal(await count(), 0, 'visible on the replica right after the commit despite the apply delay');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await count(), 0, 'visible on the replica 0.5 s after the commit despite a 2 s apply delay');
    await until(async () => (await count()) === 1, 10_000);
    // The replica applies the commit at its primary commit time + 2 s, a moment before `committed`.
    const lag = performance.now() - committed;
    console.log(`row visible on the replica ${Math.round(lag)} ms after the commit returned`);
    assert.ok(lag >= APPLY_DELAY_MS - 500, `applied after ${Math.round(lag)} ms, expected about ${APPLY_DELAY_MS}`);
    assert.ok(lag <= APPLY_DELAY_MS + 1_500, `applied only after ${Math.round(lag)} ms`);

    // Without the delay a commit arrives within a moment.
    await r.setApplyDelay(0);
    await p.query("insert into replicated values (2, 'prompt')");
    const promptMs = await until(async () => (await count()) === 2, 5_000);
    assert.ok(promptMs < 1_000, `applied after ${Math.round(promptMs)} ms without a delay`);

    // And the delay can be put back.
    await r.setApplyDelay(APPLY_DELAY_MS);
    await p.query("insert into replicated values (3, 'delayed again')");
    assert.equal(await count(), 2, 'the apply delay set again was not honoured');
    await until(async () => (await count()) === 3, 10_000);
  });

  it('the replay position reaches the primary position (read-your-writes can compare them)', async (t) => {
    if (skipOrFail(t) || !primary || !replica) return;
    const r = replica;
    await r.setApplyDelay(0);
    const [lsn] = await primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    await until(async () => {
      const [row] = await r.query<{ caught: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as caught', [
        lsn?.lsn,
      ]);
      return row?.caught === true;
    }, 5_000);
  });

  it('stopping the replica ends its connections and leaves the primary serving', async (t) => {
    if (skipOrFail(t) || !primary || !replica) return;
    await replica.stop();
    await assert.rejects(replica.query('select 1'), /ECONNREFUSED/);
    const [row] = await primary.query<{ one: number }>('select 1 as one');
    assert.equal(row?.one, 1);
  });
});

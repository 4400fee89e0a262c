/**
 * Read replicas against a real streaming replica: a private primary and a replica made with pg_basebackup
 * (testing/private-postgres.ts), replication lag made visible with recovery_min_apply_delay. Proves where
 * each read goes (the replica's own reads counter and the servers' own statistics), read-your-writes with
 * tokens, and that a replica that stops is taken out and put back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { type Database, Migrator, openDatabase } from '../src/index.js';
import { PrivatePostgres, privatePostgresUnavailable, sleep, until } from '../src/testing/index.js';
import { authors, FIXTURE_MIGRATIONS } from './support/fixture-tables.js';

const unavailable = await privatePostgresUnavailable();
if (unavailable && process.env.CI === 'true') throw new Error(`replica tests must run on CI: ${unavailable}`);

describe('read replicas (PostgreSQL streaming replication)', { skip: unavailable }, () => {
  let primary: PrivatePostgres;
  let replica: PrivatePostgres;
  let database: Database;
  const log: string[] = [];

  before(async () => {
    primary = new PrivatePostgres();
    await primary.init();
    await primary.start();
    replica = await PrivatePostgres.replicaOf(primary, { applyDelayMs: 0 });
    const setup = await openDatabase(primary.url, { connectAttempts: 1 });
    await (await Migrator.fromDirectory(setup, FIXTURE_MIGRATIONS)).up();
    await setup.close();
    database = await openDatabase(primary.url, {
      connectAttempts: 1,
      replicaUrls: [replica.url],
      replicaPollMs: 50,
      onReplicaChange: (message) => log.push(message),
    });
  });

  after(async () => {
    await database?.close();
    await replica?.destroy();
    await primary?.destroy();
  });

  const replicaReads = () => database.replicaStatus()[0]!.reads;

  test('the replica is probed into rotation at start', () => {
    const [status] = database.replicaStatus();
    assert.equal(status?.healthy, true, JSON.stringify(log));
    assert.ok(!status.url.includes(':***@') || !status.url.includes('password'));
  });

  test('reads through `eventual` outside any scope are served by the replica; the plain database never is', async () => {
    const created = await database.repository(authors).create({ email: 'r1@example.com', name: 'R1' });
    await until('replication', async () => (await database.eventual.repository(authors).get(created.id)) !== undefined);
    const before = replicaReads();
    const replicaScans = await userTableScans(replica.url);
    for (let i = 0; i < 5; i++)
      assert.equal((await database.eventual.repository(authors).get(created.id))?.email, 'r1@example.com');
    assert.equal(replicaReads() - before, 5);
    // The replica server's own statistics count them too (backends flush their counters within ~10 s when idle).
    await until(
      'the replica server counting the reads',
      async () => (await userTableScans(replica.url)) - replicaScans >= 5,
      20_000,
    );
    // The database itself (the primary store) never routes.
    const again = replicaReads();
    await database.repository(authors).get(created.id);
    await database.repository(authors).list({ limit: 5 });
    assert.equal(replicaReads(), again);
  });

  test('reads that name secret columns, writes and units of work go to the primary', async () => {
    const before = replicaReads();
    const repo = database.eventual.repository(authors);
    const created = await repo.create({ email: 'w1@example.com', name: null });
    await repo.update(created.id, { name: 'W1' });
    await database.eventual.unitOfWork(async (uow) => {
      assert.equal((await uow.repository(authors).get(created.id))?.name, 'W1');
    });
    assert.equal(replicaReads(), before);
  });

  test('read-your-writes: with lag, a token routes the reads to the primary until the replica has replayed the write', async () => {
    const consistency = database.consistency!;
    await replica.setApplyDelay(1500);
    // Let the delay take effect on what is replicated from now on.
    await sleep(200);
    const { token, id } = await consistency.run(undefined, async (scope) => {
      const created = await database.eventual.repository(authors).create({ email: 'ryw@example.com', name: 'RYW' });
      assert.equal(scope.wrote, true);
      // In the same scope, after the write: the primary.
      const before = replicaReads();
      assert.equal((await database.eventual.repository(authors).get(created.id))?.name, 'RYW');
      assert.equal(replicaReads(), before);
      return { token: await consistency.token(scope), id: created.id };
    });
    assert.ok(token, 'a scope that wrote gets a token');
    assert.ok(consistency.decode(token) !== undefined);

    // Another client, without the token, reads the lagging replica: the write is not there yet (lag is real).
    const stale = await consistency.run(undefined, () => database.eventual.repository(authors).get(id));
    assert.equal(stale, undefined, 'the replica must not show the write yet (recovery_min_apply_delay)');

    // The writer with its token reads its write, from the primary.
    const before = replicaReads();
    const mine = await consistency.run(token, () => database.eventual.repository(authors).get(id));
    assert.equal(mine?.name, 'RYW');
    assert.equal(replicaReads(), before, 'served by the primary while the replica lags');

    // Once the replica has replayed it, the same token is served by the replica, and still sees the write.
    await until(
      'replay',
      async () => (await consistency.run(undefined, () => database.eventual.repository(authors).get(id))) !== undefined,
    );
    await sleep(150); // one more probe, so the replica's replayed position is known
    const later = replicaReads();
    const fromReplica = await consistency.run(token, () => database.eventual.repository(authors).get(id));
    assert.equal(fromReplica?.name, 'RYW');
    assert.equal(replicaReads(), later + 1);
    await replica.setApplyDelay(0);
  });

  test('a token that was altered or made up sends the reads to the primary, and is never an error', async () => {
    const consistency = database.consistency!;
    const token = await consistency.run(undefined, async (scope) => {
      await database.eventual.repository(authors).create({ email: 'forge@example.com', name: 'F' });
      return consistency.token(scope);
    });
    assert.ok(token);
    // The token is sealed: it does not show the position, and any change to it (one bit of the ciphertext,
    // the tag, the nonce) or a token of the right shape made up by a client is refused.
    const position = consistency.decode(token);
    assert.ok(position !== undefined && position > 0n);
    assert.doesNotMatch(token, new RegExp(position.toString(16), 'i'));
    assert.doesNotMatch(token, new RegExp(position.toString(36), 'i'));
    const bytes = Buffer.from(token, 'base64url');
    const flipped = (at: number) => {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] ?? 0) ^ 1;
      return copy.toString('base64url');
    };
    const forged = [
      flipped(0),
      flipped(12),
      flipped(bytes.length - 1),
      Buffer.alloc(bytes.length).toString('base64url'),
      `${token}A`,
      token.slice(1),
      'garbage',
      '',
    ];
    for (const candidate of forged) {
      assert.equal(consistency.decode(candidate), undefined, candidate);
      const before = replicaReads();
      await consistency.run(candidate, () => database.eventual.repository(authors).list({ limit: 1 }));
      assert.equal(replicaReads(), before, `read for token "${candidate}" went to the primary`);
    }
    // A scope that only read gets no token.
    assert.equal(
      await consistency.run(undefined, async (scope) => {
        await database.eventual.repository(authors).list({ limit: 1 });
        return consistency.token(scope);
      }),
      undefined,
    );
  });

  test('after a WAL segment switch on an idle primary the caught-up replica is neither behind nor short of a token', async () => {
    const consistency = database.consistency!;
    await database.repository(authors).create({ email: 'switch@example.com', name: 'S' });
    // The insert position is now just past the new segment's page header, where no record has begun.
    const [{ lsn }] = (await primary.query<{ lsn: string }>('select pg_switch_wal()::text as lsn')) as [
      { lsn: string },
    ];
    await until('the replica past the switch', async () => {
      const [row] = await replica.query<{ caught: boolean }>(
        `select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as caught`,
      );
      return row?.caught === true;
    });
    // Probes every 50 ms; a replica wrongly seen behind would show a lag of about this long.
    await sleep(1_500);
    const [status] = database.replicaStatus();
    assert.equal(status?.healthy, true);
    assert.ok((status?.lagMs ?? Number.POSITIVE_INFINITY) < 1_000, `lag ${status?.lagMs} ms on a caught-up replica`);
    // A token taken now (nothing written since the switch) is met by the replica.
    const token = await consistency.run(undefined, async (scope) => {
      scope.wrote = true;
      return consistency.token(scope);
    });
    const before = replicaReads();
    await consistency.run(token, () => database.eventual.repository(authors).list({ limit: 1 }));
    assert.equal(replicaReads(), before + 1, 'the token sent the read to the primary');
  });

  test('keyset pages continue across servers (one cursor key)', async () => {
    const first = await database.eventual.repository(authors).list({ limit: 1 });
    assert.ok(first.nextCursor);
    const second = await database.repository(authors).list({ limit: 1, after: first.nextCursor });
    assert.equal(second.items.length, 1);
    assert.notEqual(second.items[0]?.id, first.items[0]?.id);
  });

  test('a replica that stops is taken out (reads keep working on the primary) and is probed back in', async () => {
    const created = await database.repository(authors).create({ email: 'down@example.com', name: 'D' });
    await until('replication', async () => (await database.eventual.repository(authors).get(created.id)) !== undefined);
    await replica.stop();
    // Every read still answers, from the primary, whether or not a probe has noticed yet.
    for (let i = 0; i < 10; i++) assert.equal((await database.eventual.repository(authors).get(created.id))?.name, 'D');
    await until('out of rotation', () => database.replicaStatus()[0]?.healthy === false);
    assert.ok(
      log.some((line) => /out of rotation|taken out/.test(line)),
      JSON.stringify(log),
    );
    const before = replicaReads();
    await database.eventual.repository(authors).get(created.id);
    assert.equal(replicaReads(), before);
    await replica.start();
    await until('back in rotation', () => database.replicaStatus()[0]?.healthy === true, 30_000);
    await database.eventual.repository(authors).get(created.id);
    assert.equal(replicaReads(), before + 1);
  });

  test('a replica further behind than the maximum lag serves no reads', async () => {
    const strict = await openDatabase(primary.url, {
      connectAttempts: 1,
      replicaUrls: [replica.url],
      replicaPollMs: 50,
      replicaMaxLagMs: 300,
    });
    try {
      await replica.setApplyDelay(3000);
      await sleep(200);
      // The primary moves on; the replica stays behind for 3 s.
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        await strict.repository(authors).create({ email: `lag${Date.now()}${Math.random()}@example.com`, name: null });
        await sleep(50);
      }
      await until('lagging replica out of rotation', () => strict.replicaStatus()[0]?.healthy === false);
      const before = strict.replicaStatus()[0]!.reads;
      await strict.eventual.repository(authors).list({ limit: 1 });
      assert.equal(strict.replicaStatus()[0]!.reads, before);
      await replica.setApplyDelay(0);
      await until('caught up, back in rotation', () => strict.replicaStatus()[0]?.healthy === true, 20_000);
    } finally {
      await strict.close();
    }
  });

  test('replica URLs are refused for other databases and other kinds', async () => {
    await assert.rejects(
      openDatabase('sqlite::memory:', { replicaUrls: ['postgres://x@127.0.0.1:1/x'] }),
      /supported on PostgreSQL only/,
    );
    await assert.rejects(
      openDatabase(primary.url, { connectAttempts: 1, replicaUrls: ['mysql://root@127.0.0.1:3306/test'] }),
      /not a postgres URL/,
    );
  });
});

/** Sequential plus index scans of the fixture tables, as the server counts them (its own statistics). */
async function userTableScans(url: string): Promise<number> {
  const db = await openDatabase(url, { connectAttempts: 1 });
  try {
    const { rows } = await sql<{ n: string }>`
      select coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)::text as n
      from pg_stat_user_tables where relname = 'authors'`.execute(db.kysely);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await db.close();
  }
}

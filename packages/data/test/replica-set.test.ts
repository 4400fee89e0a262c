/**
 * ReplicaSet's probing without servers: a fake Replication whose answers the test controls, so a replica that
 * freezes (its probe never answers, as a SIGSTOPped server that accepts TCP but never finishes a connection's
 * start-up) can be simulated exactly. The real-server behaviour is in replicas.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Dialect, Replication } from '../src/dialects/dialect.js';
import { parseLsn, recordEnd } from '../src/dialects/postgres-replication.js';
import { CursorCodec } from '../src/pagination.js';
import { ReplicaNode, ReplicaSet } from '../src/replication/replica-set.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One fake server: a position, and whether it has frozen (its probes then never settle). */
interface FakeServer {
  position: bigint;
  frozen: boolean;
}

function fixture(count: number) {
  const primary: FakeServer = { position: 100n, frozen: false };
  const servers = Array.from({ length: count }, () => ({ position: 100n, frozen: false }) as FakeServer);
  const never = new Promise<never>(() => {});
  const kyselyOf = new Map<object, FakeServer>();
  const handle = (server: FakeServer) => {
    const kysely = {} as Kysely<any>;
    kyselyOf.set(kysely, server);
    return kysely;
  };
  const answer = (kysely: Kysely<any>) => {
    const server = kyselyOf.get(kysely)!;
    return server.frozen ? never : Promise.resolve(server.position);
  };
  const replication: Replication = { primaryPosition: answer, replayedPosition: answer };
  const nodes = servers.map(
    (server, i) =>
      new ReplicaNode(
        `postgres://replica-${i}/db`,
        handle(server),
        {} as Dialect,
        new CursorCodec('k'),
        async () => {},
      ),
  );
  const log: string[] = [];
  const set = new ReplicaSet(nodes, handle(primary), replication, {
    pollMs: 20,
    maxLagMs: 60_000,
    probeTimeoutMs: 150,
    onChange: (message) => log.push(message),
  });
  return { primary, servers, nodes, set, log };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('replica set probing', () => {
  test('a replica frozen at start-up neither holds start-up nor enters the rotation', { timeout: 10_000 }, async () => {
    const { servers, nodes, set } = fixture(2);
    servers[0]!.frozen = true;
    const started = performance.now();
    await set.start();
    try {
      // The probe timeout is 150 ms; generous for a loaded machine, far below "never".
      assert.ok(performance.now() - started < 3_000, `start-up took ${performance.now() - started} ms`);
      assert.equal(nodes[0]!.healthy, false);
      assert.equal(nodes[1]!.healthy, true);
      assert.equal(set.pick(undefined), nodes[1]);
    } finally {
      await set.close();
    }
  });

  test('a replica that freezes leaves the rotation, the others keep being probed, and close() returns', {
    timeout: 10_000,
  }, async () => {
    const { primary, servers, nodes, set, log } = fixture(2);
    await set.start();
    try {
      assert.ok(nodes.every((node) => node.healthy));
      servers[0]!.frozen = true;
      await until('the frozen replica out of rotation', () => !nodes[0]!.healthy);
      assert.ok(
        log.some((line) => line.includes('replica-0') && line.includes('out of rotation')),
        log.join('\n'),
      );
      // The other replica's new position is seen although the frozen one's probes never answer.
      primary.position = 200n;
      servers[1]!.position = 200n;
      await until('the live replica at the new position', () => nodes[1]!.replayed === 200n);
      assert.equal(set.pick(200n), nodes[1]);
    } finally {
      const closing = performance.now();
      await set.close();
      assert.ok(performance.now() - closing < 3_000, `close took ${performance.now() - closing} ms`);
    }
  });
});

describe('WAL positions', () => {
  test('an insert position just past a page header is the page boundary, as a standby reports it', () => {
    const block = 8192n;
    const segment = 16n * 1024n * 1024n;
    // 0/4000028 after pg_switch_wal() (measured): the first page of a segment, long header.
    assert.equal(recordEnd(parseLsn('0/4000028'), 0x28n, block), parseLsn('0/4000000'));
    // Any other page: short header.
    assert.equal(recordEnd(parseLsn('0/4002018'), 0x2018n, block), parseLsn('0/4002000'));
    // A record end anywhere else is left alone (including 40 bytes into a page that is not a segment's first).
    assert.equal(recordEnd(parseLsn('0/4002028'), 0x2028n, block), parseLsn('0/4002028'));
    assert.equal(recordEnd(parseLsn('0/3016060'), 0x16060n % segment, block), parseLsn('0/3016060'));
  });
});

/**
 * The query-timeout cancel towards a pooler (dialects/postgres.ts, sendCancel): its connection is never closed
 * from this side (PgBouncer 1.18 would exit), so a pooler that never answers must not collect one open socket
 * per timed-out query. A plain TCP server that accepts and never closes stands for a frozen pooler.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { pooledCancelsOpen, sendCancel } from '../src/dialects/postgres.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('cancels to a pooler that never closes them are bounded, and resume once it closes them', async () => {
  const accepted: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    for (let i = 0; i < 200; i++) sendCancel('127.0.0.1', port, 1000 + i, i, true);
    const deadline = Date.now() + 5_000;
    let seen = -1;
    // Wait until the count of accepted connections settles (connections arrive asynchronously).
    while (Date.now() < deadline && seen !== accepted.length) {
      seen = accepted.length;
      await sleep(200);
    }
    assert.ok(accepted.length > 0, 'cancels were sent');
    assert.ok(accepted.length <= 64, `${accepted.length} cancel connections left open to a frozen pooler`);
    assert.equal(pooledCancelsOpen(), accepted.length);
    // The pooler answers (closes them): the count goes down and cancels are sent again.
    for (const socket of accepted.splice(0)) socket.destroy();
    const closed = Date.now() + 5_000;
    while (pooledCancelsOpen() > 0 && Date.now() < closed) await sleep(20);
    assert.equal(pooledCancelsOpen(), 0);
    sendCancel('127.0.0.1', port, 1, 1, true);
    const again = Date.now() + 5_000;
    while (accepted.length === 0 && Date.now() < again) await sleep(20);
    assert.equal(accepted.length, 1);
  } finally {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

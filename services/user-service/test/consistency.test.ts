/**
 * The read-your-writes hooks (src/http/consistency.ts) with a fake Consistency: how long a session's write
 * position is remembered when the replicas may lag longer than the default minute (DATABASE_REPLICA_MAX_LAG_MS).
 * The routing itself, against a real replica, is in replicas.api.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Consistency, ConsistencyScope } from '@user-service/data';
import Fastify from 'fastify';
import type { Principal } from '../src/access/principal.js';
import { registerConsistency, type SharedPositions } from '../src/http/consistency.js';

/** A scope like the data layer's: the highest position required, and whether the request wrote. */
function scope(): ConsistencyScope {
  const s = {
    wrote: false,
    required: undefined as bigint | undefined,
    require(position: bigint | undefined) {
      if (position !== undefined && (s.required === undefined || position > s.required)) s.required = position;
    },
  };
  return s as unknown as ConsistencyScope;
}

/** Replicas that may lag 5 minutes: a write must be remembered at least that long. */
const fake: Consistency = {
  enter: () => scope(),
  run: (_token, fn) => fn(scope()),
  decode: (token) => (token?.startsWith('pos-') ? BigInt(token.slice(4)) : undefined),
  token: async () => 'pos-500',
  stalenessBoundMs: 301_000,
};

async function app(shared?: SharedPositions) {
  const server = Fastify();
  registerConsistency(server, fake, shared);
  // Stands for the access layer (registered after the consistency hooks): one session.
  server.addHook('onRequest', async (request) => {
    (request as unknown as { principal: Principal }).principal = {
      kind: 'user',
      sessionId: 'session-1',
    } as unknown as Principal;
  });
  server.post('/write', async (request) => {
    request.consistencyScope!.wrote = true;
    return {};
  });
  server.get('/read', async (request) => ({ required: String(request.consistencyScope!.required) }));
  await server.ready();
  return server;
}

test('a session that wrote is remembered as long as a replica in the rotation may lag', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-11-24T12:00:00Z') });
  const server = await app();
  try {
    const wrote = await server.inject({ method: 'POST', url: '/write' });
    assert.equal(wrote.headers['x-consistency-token'], 'pos-500');
    // Past the default minute, within the replicas' 5 minutes: the session's reads still need the write.
    t.mock.timers.tick(240_000);
    assert.equal((await server.inject({ url: '/read' })).json().required, '500');
    t.mock.timers.tick(62_000);
    assert.equal((await server.inject({ url: '/read' })).json().required, 'undefined', 'forgotten after the bound');
  } finally {
    await server.close();
  }
});

test('the position shared through Redis lives as long', async () => {
  const ttls: number[] = [];
  const shared: SharedPositions = {
    get: async () => undefined,
    set: async (_key, _position, _token, ttlMs) => {
      ttls.push(ttlMs);
    },
  };
  const server = await app(shared);
  try {
    await server.inject({ method: 'POST', url: '/write' });
    assert.deepEqual(ttls, [301_000]);
  } finally {
    await server.close();
  }
});

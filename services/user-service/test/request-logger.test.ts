import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { loggerOptions } from '../src/observability/logger.js';
import { lazyChildLogger } from '../src/observability/request-logger.js';

/** An app with the service's logger options at `level`, lines captured, the lazy factory counted. */
async function appAt(level: string) {
  const lines: Record<string, unknown>[] = [];
  let children = 0;
  const app = Fastify({
    logger: await loggerOptions({ level }, { destination: { write: (line) => lines.push(JSON.parse(line)) } }),
    disableRequestLogging: true,
    requestIdHeader: 'x-request-id',
    childLoggerFactory: lazyChildLogger,
  });
  // Every real child is made through the app logger's child(): count those calls.
  const child = app.log.child.bind(app.log);
  app.log.child = (bindings, options) => {
    children++;
    return child(bindings, options);
  };
  return { app, lines, children: () => children };
}

describe('lazy request logger', () => {
  it('makes no child for a request that writes nothing at the levels on', async () => {
    const { app, lines, children } = await appAt('warn');
    app.get('/quiet', async (request) => {
      request.log.info('not written at warn');
      request.log.debug('nor this');
      return { ok: (request.log as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled('info') };
    });
    const res = await app.inject('/quiet');
    assert.deepEqual(res.json(), { ok: false });
    assert.equal(children(), 0);
    assert.equal(lines.length, 0);
  });

  it('writes a line bound to the request id, as an eager child would', async () => {
    const { app, lines, children } = await appAt('warn');
    app.get('/loud', async (request) => {
      request.log.warn({ n: 1 }, 'first');
      request.log.error('second');
      request.log.info('not written');
      return { level: request.log.level };
    });
    const res = await app.inject({ url: '/loud', headers: { 'x-request-id': 'req-lazy-1' } });
    assert.deepEqual(res.json(), { level: 'warn' });
    assert.equal(children(), 1, 'one child for the request, made at its first line');
    assert.deepEqual(
      lines.map(({ level, reqId, msg, n }) => ({ level, reqId, msg, n })),
      [
        { level: 40, reqId: 'req-lazy-1', msg: 'first', n: 1 },
        { level: 50, reqId: 'req-lazy-1', msg: 'second', n: undefined },
      ],
    );
  });

  it('gives a route with its own log level an eager child at that level', async () => {
    const { app, lines } = await appAt('warn');
    app.get('/verbose', { logLevel: 'info' }, async (request) => {
      request.log.info('written at the route level');
      return {};
    });
    await app.inject({ url: '/verbose', headers: { 'x-request-id': 'req-lazy-2' } });
    assert.deepEqual(
      lines.map(({ reqId, msg }) => ({ reqId, msg })),
      [{ reqId: 'req-lazy-2', msg: 'written at the route level' }],
    );
  });
});

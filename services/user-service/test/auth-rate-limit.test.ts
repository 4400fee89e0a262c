/**
 * The general per-IP limit on /api/v1/auth/* (registerAuthRateLimit): one budget per client IP shared by the
 * auth routes, 429 in the {"detail": ...} shape with Retry-After past it, other routes not limited; and the
 * error handler's answer to TooManyRequestsError.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import Fastify from 'fastify';
import { TooManyRequestsError } from '../src/errors.js';
import { AUTH_ROUTE_PREFIX, registerAuthRateLimit } from '../src/http/auth-rate-limit.js';
import { registerErrorHandler } from '../src/http/error-handler.js';

async function appWithLimit(perMinute: number) {
  const app = Fastify();
  registerErrorHandler(app);
  await registerAuthRateLimit(app, { perMinute });
  await app.register(
    async (api) => {
      api.post('/auth/login', async () => ({ ok: true }));
      api.post('/auth/refresh', async () => ({ ok: true }));
      api.get('/users', async () => ({ ok: true }));
      api.get('/locked', async () => {
        throw new TooManyRequestsError(12.2, 'Too many failed login attempts; try again in 13 seconds');
      });
    },
    { prefix: '/api/v1' },
  );
  return app;
}

it('limits the auth routes per IP, one budget for all of them, and answers 429 with Retry-After', async () => {
  assert.equal(AUTH_ROUTE_PREFIX, '/api/v1/auth/');
  const app = await appWithLimit(3);
  const from = (remoteAddress: string, url: string) => app.inject({ method: 'POST', url, remoteAddress });
  assert.equal((await from('192.0.2.1', '/api/v1/auth/login')).statusCode, 200);
  assert.equal((await from('192.0.2.1', '/api/v1/auth/refresh')).statusCode, 200);
  assert.equal((await from('192.0.2.1', '/api/v1/auth/login')).statusCode, 200);
  const refused = await from('192.0.2.1', '/api/v1/auth/refresh');
  assert.equal(refused.statusCode, 429);
  const seconds = Number(refused.headers['retry-after']);
  assert.ok(seconds >= 1 && seconds <= 60, `Retry-After ${refused.headers['retry-after']}`);
  assert.deepEqual(refused.json(), { detail: `Too many requests; try again in ${seconds} seconds` });
  // Another IP has its own budget; routes outside /api/v1/auth/ are not limited.
  assert.equal((await from('192.0.2.2', '/api/v1/auth/login')).statusCode, 200);
  for (let i = 0; i < 5; i++) {
    assert.equal((await app.inject({ url: '/api/v1/users', remoteAddress: '192.0.2.1' })).statusCode, 200);
  }
  await app.close();
});

it('answers TooManyRequestsError with 429, Retry-After in whole seconds and a detail', async () => {
  const app = await appWithLimit(100);
  const res = await app.inject('/api/v1/locked');
  assert.equal(res.statusCode, 429);
  assert.equal(res.headers['retry-after'], '13');
  assert.deepEqual(res.json(), { detail: 'Too many failed login attempts; try again in 13 seconds' });
  assert.equal(new TooManyRequestsError(0.2).retryAfterSeconds, 1);
  await app.close();
});

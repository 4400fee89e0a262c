/**
 * The HTTP limit: a bare Fastify server answering the service's read routes with the same JSON, from memory,
 * serialised through the same response schemas. Nothing the service does per request can be cheaper than this
 * on the same machine. Runs WORKERS processes sharing PORT (node:cluster), like the service's WORKERS.
 */
import cluster from 'node:cluster';
import Fastify from 'fastify';
import { UserListPublic, UserPublic } from '../src/users/user.schemas.js';

const port = Number(process.env.PORT ?? 8100);
const workers = Number(process.env.WORKERS ?? 1);

function user(i: number) {
  const at = new Date(Date.UTC(2023, 0, 1) + i * 90_000).toISOString();
  return {
    id: `0185e1a2-${String(1000 + i).padStart(4, '0')}-7abc-8def-0123456789ab`,
    email: `ada.lovelace.${i.toString(36)}@example.com`,
    username: `ada_lovelace${i.toString(36)}`,
    full_name: 'Ada Lovelace',
    is_active: true,
    is_superuser: false,
    is_verified: false,
    verified_at: null,
    created_at: at,
    updated_at: at,
  };
}

async function serve(): Promise<void> {
  const app = Fastify({ logger: false });
  app.addSchema(UserPublic);
  app.addSchema(UserListPublic);
  const one = user(1);
  const page = {
    users: Array.from({ length: 20 }, (_, i) => user(i)),
    total: 100_000,
    skip: 0,
    limit: 20,
    next_cursor: 'WyJpZCIsImFzYyIsIjAxODVlMWEyLTEwMTktN2FiYy04ZGVmLTAxMjM0NTY3ODlhYiIsIjAxODVlMWEyIl0.AbCdEfGhIjKl',
  };
  const userResponse = { response: { 200: { $ref: 'UserPublic#' } } };
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/api/v1/users/:id', { schema: userResponse }, async () => one);
  app.get('/api/v1/users/email/:email', { schema: userResponse }, async () => one);
  app.get('/api/v1/users', { schema: { response: { 200: { $ref: 'UserListPublic#' } } } }, async () => page);
  await app.listen({ host: '127.0.0.1', port });
}

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (_worker, code) => {
    if (code !== 0) process.exit(1);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  await serve();
}

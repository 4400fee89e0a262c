/**
 * The access policy (src/access/policy.ts) as a table, on every database: every route of the running app x
 * {anonymous, user, other user, superuser, API key with the route's scope, API key without it} -> the status
 * it answers. The routes come from the app itself (an onRoute hook on the instance buildApp creates), so a route
 * added without a row here fails the suite. Each cell sends a realistic, valid request, so the status is the
 * policy's and not the validator's; the cells that destroy something get their own throw-away fixtures.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { onEachDatabase, type TestDatabase } from '@user-service/data/testing';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { SCOPES, type Scope } from '../src/access/principal.js';
import { builtConsoleDir } from '../src/admin/admin-console.routes.js';
import { AccountTokenRepository } from '../src/auth/account-token.repository.js';
import type { AccountTokenKind } from '../src/auth/account-token.table.js';
import {
  emptyTables,
  openTestApp,
  type SignedIn,
  TEST_PASSWORD,
  type TestApp,
  type TestAppOptions,
} from './support/test-app.js';

const API = '/api/v1';
const WHO = ['anonymous', 'user', 'other', 'superuser', 'key+scope', 'key-scope'] as const;
type Who = (typeof WHO)[number];

/** A signed-in user with one persona. */
interface Person extends SignedIn {
  persona: string;
}

interface Cell {
  who: Who;
  /** The caller (undefined for anonymous and API keys). */
  caller: Person | undefined;
  /** Whose ids the request names: the user's own for `user`, the user's (someone else's) for `other`. */
  target: Person;
  /** For the signed-in-user routes: the caller's own ids, except `other`, who names the user's. */
  mine: Person;
  /** A second session of `mine`, ended by no one else. */
  extraSession(): Promise<string>;
  /** A new session of `target`, ended by no one else. */
  targetSession(): Promise<string>;
  /** A refresh token of a session nothing else uses. */
  refreshToken(): Promise<string>;
  /** An API key created for this cell alone. */
  throwAwayKey(): Promise<string>;
  /** A live emailed token of this kind for `target`, stored as the service stores one (the mail is not the point). */
  accountToken(kind: AccountTokenKind): Promise<string>;
}

interface Row {
  /** `METHOD /route/template`, as the app registers it. */
  route: string;
  request(cell: Cell): Promise<Omit<InjectOptions, 'headers'>> | Omit<InjectOptions, 'headers'>;
  /** Expected status per caller, in WHO's order. */
  expect: [number, number, number, number, number, number];
  /** The scope the API-key columns are about; none: key+ holds every scope and key- holds users:read only. */
  scope?: Scope;
  /** Cells change their fixtures for good (delete, deactivate, log out...): each gets its own. */
  fresh?: boolean;
}

let unique = 0;
const uid = () => `${Date.now().toString(36)}${++unique}`;
const persona = () => ({ name: `persona-${uid()}`, relation_type: 'friend', description: 'from the policy table' });

// The statuses each kind of rule gives, for the columns of WHO.
const PUB = (ok: number): Row['expect'] => [ok, ok, ok, ok, ok, ok];
const USER = (ok: number, other = ok): Row['expect'] => [401, ok, other, ok, 403, 403];
const ADMIN = (ok: number): Row['expect'] => [401, 403, 403, ok, ok, 403];
const OWNER = (ok: number): Row['expect'] => [401, ok, 404, ok, ok, 403];
const SUPER = (ok: number): Row['expect'] => [401, 403, 403, ok, 403, 403];

const get = (url: string) => ({ method: 'GET' as const, url });
/** The built console's script (its name carries a content hash), as its page names it. */
const consoleScript = () => {
  const html = readFileSync(join(builtConsoleDir(), 'index.html'), 'utf8');
  const src = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(src, 'the console page names its script');
  return src;
};

const ROWS: Row[] = [
  { route: 'GET /openapi.json', request: () => get('/openapi.json'), expect: PUB(200) },
  { route: 'GET /health', request: () => get('/health'), expect: PUB(200) },
  { route: 'GET /health/ready', request: () => get('/health/ready'), expect: PUB(200) },
  { route: 'GET /.well-known/jwks.json', request: () => get('/.well-known/jwks.json'), expect: PUB(200) },
  // Only METRICS_TOKEN opens it (metrics.test.ts sends the token): no user, superuser or API key does.
  { route: 'GET /metrics', request: () => get('/metrics'), expect: [401, 401, 401, 401, 401, 401] },
  { route: 'GET /docs', request: () => get('/docs'), expect: PUB(200) },
  { route: 'GET /docs/static/index.html', request: () => get('/docs/static/index.html'), expect: PUB(302) },
  {
    route: 'GET /docs/static/swagger-initializer.js',
    request: () => get('/docs/static/swagger-initializer.js'),
    expect: PUB(200),
  },
  { route: 'GET /docs/static/*', request: () => get('/docs/static/swagger-ui.css'), expect: PUB(200) },
  {
    route: 'HEAD /docs/static/*',
    request: () => ({ method: 'HEAD', url: '/docs/static/swagger-ui.css' }),
    expect: PUB(200),
  },
  { route: 'GET /docs/json', request: () => get('/docs/json'), expect: PUB(200) },
  { route: 'GET /docs/yaml', request: () => get('/docs/yaml'), expect: PUB(200) },
  // The admin console's pages and assets (the real build): public like /docs; its data comes from the rows below.
  { route: 'GET /admin', request: () => get('/admin'), expect: PUB(200) },
  { route: 'GET /admin/*', request: () => get('/admin/users/0b6f6a3e-5d1c-4c59-9a59-7f0d2c7f1a11'), expect: PUB(200) },
  { route: 'GET /admin/assets/*', request: () => get(consoleScript()), expect: PUB(200) },
  { route: 'HEAD /admin/assets/*', request: () => ({ method: 'HEAD', url: consoleScript() }), expect: PUB(200) },
  { route: 'GET /verify-email', request: () => get('/verify-email'), expect: PUB(200) },
  { route: 'GET /reset-password', request: () => get('/reset-password'), expect: PUB(200) },

  {
    route: `POST ${API}/auth/register`,
    request: () => ({
      method: 'POST',
      url: `${API}/auth/register`,
      payload: { email: `reg-${uid()}@example.com`, password: TEST_PASSWORD },
    }),
    expect: PUB(201),
  },
  {
    route: `POST ${API}/auth/login`,
    request: (c) => ({
      method: 'POST',
      url: `${API}/auth/login`,
      payload: { username: c.target.user.email, password: TEST_PASSWORD },
    }),
    expect: PUB(200),
  },
  {
    route: `POST ${API}/auth/refresh`,
    request: async (c) => ({
      method: 'POST',
      url: `${API}/auth/refresh`,
      payload: { refresh_token: await c.refreshToken() },
    }),
    expect: PUB(200),
  },
  {
    route: `POST ${API}/auth/logout`,
    request: () => ({ method: 'POST', url: `${API}/auth/logout` }),
    expect: USER(204),
    fresh: true,
  },
  { route: `GET ${API}/auth/me`, request: () => get(`${API}/auth/me`), expect: USER(200) },
  {
    route: `POST ${API}/auth/password`,
    request: () => ({
      method: 'POST',
      url: `${API}/auth/password`,
      payload: { current_password: TEST_PASSWORD, new_password: `Another-${TEST_PASSWORD}` },
    }),
    expect: USER(204),
    fresh: true,
  },
  { route: `GET ${API}/auth/sessions`, request: () => get(`${API}/auth/sessions`), expect: USER(200) },
  {
    route: `DELETE ${API}/auth/sessions/:session_id`,
    request: async (c) => ({ method: 'DELETE', url: `${API}/auth/sessions/${await c.extraSession()}` }),
    expect: USER(204, 404),
  },
  // Public: the mailed token is the credential. Each request cell from its own client IP, so the table holds
  // with the service's own per-IP limit of the mail routes too; a reset ends the user's sessions, so its cells
  // get their own users.
  {
    route: `POST ${API}/auth/request-verify-token`,
    request: (c) => ({
      method: 'POST',
      url: `${API}/auth/request-verify-token`,
      remoteAddress: `10.9.0.${++unique % 250}`,
      payload: { email: c.target.user.email },
    }),
    expect: PUB(202),
  },
  {
    route: `POST ${API}/auth/verify`,
    request: async (c) => ({
      method: 'POST',
      url: `${API}/auth/verify`,
      payload: { token: await c.accountToken('verify') },
    }),
    expect: PUB(200),
    // Users of its own: a verification request still queued for the shared ones would void the planted token.
    fresh: true,
  },
  {
    route: `POST ${API}/auth/forgot-password`,
    request: (c) => ({
      method: 'POST',
      url: `${API}/auth/forgot-password`,
      remoteAddress: `10.9.1.${++unique % 250}`,
      payload: { email: c.target.user.email },
    }),
    expect: PUB(202),
  },
  {
    route: `POST ${API}/auth/reset-password`,
    request: async (c) => ({
      method: 'POST',
      url: `${API}/auth/reset-password`,
      payload: { token: await c.accountToken('reset'), password: TEST_PASSWORD },
    }),
    expect: PUB(204),
    fresh: true,
  },

  { route: `GET ${API}/users/me`, request: () => get(`${API}/users/me`), expect: USER(200) },
  {
    route: `PATCH ${API}/users/me`,
    request: () => ({ method: 'PATCH', url: `${API}/users/me`, payload: { full_name: 'Changed Myself' } }),
    expect: USER(200),
  },
  {
    route: `DELETE ${API}/users/me`,
    request: () => ({ method: 'DELETE', url: `${API}/users/me`, payload: { password: TEST_PASSWORD } }),
    expect: USER(204),
    fresh: true,
  },
  { route: `GET ${API}/users/me/personas`, request: () => get(`${API}/users/me/personas`), expect: USER(200) },
  {
    route: `GET ${API}/users/me/audit-events`,
    request: () => get(`${API}/users/me/audit-events?limit=5`),
    expect: USER(200),
  },
  {
    route: `POST ${API}/users/me/personas`,
    request: () => ({ method: 'POST', url: `${API}/users/me/personas`, payload: persona() }),
    expect: USER(201),
  },
  {
    route: `GET ${API}/users/me/personas/:persona_id`,
    request: (c) => get(`${API}/users/me/personas/${c.mine.persona}`),
    expect: USER(200, 404),
  },
  {
    route: `PUT ${API}/users/me/personas/:persona_id`,
    request: (c) => ({
      method: 'PUT',
      url: `${API}/users/me/personas/${c.mine.persona}`,
      payload: { description: 'put by me' },
    }),
    expect: USER(200, 404),
  },
  {
    route: `PATCH ${API}/users/me/personas/:persona_id`,
    request: (c) => ({
      method: 'PATCH',
      url: `${API}/users/me/personas/${c.mine.persona}`,
      payload: { status: 'archived' },
    }),
    expect: USER(200, 404),
  },
  {
    route: `DELETE ${API}/users/me/personas/:persona_id`,
    request: (c) => ({ method: 'DELETE', url: `${API}/users/me/personas/${c.mine.persona}` }),
    expect: USER(204, 404),
    fresh: true,
  },

  {
    route: `POST ${API}/users`,
    request: () => ({
      method: 'POST',
      url: `${API}/users`,
      payload: { email: `created-${uid()}@example.com`, password: TEST_PASSWORD, personas: [persona()] },
    }),
    expect: ADMIN(201),
    scope: 'users:write',
  },
  { route: `GET ${API}/users`, request: () => get(`${API}/users?limit=5`), expect: ADMIN(200), scope: 'users:read' },
  {
    route: `GET ${API}/users/search`,
    request: () => get(`${API}/users/search?q=example`),
    expect: ADMIN(200),
    scope: 'users:read',
  },
  {
    route: `GET ${API}/users/count`,
    request: () => get(`${API}/users/count?active_only=true`),
    expect: ADMIN(200),
    scope: 'users:read',
  },
  {
    route: `GET ${API}/users/email/:email`,
    request: (c) => get(`${API}/users/email/${c.target.user.email}`),
    expect: ADMIN(200),
    scope: 'users:read',
  },
  {
    route: `GET ${API}/users/by_username/:username`,
    request: (c) => get(`${API}/users/by_username/${c.target.user.username}`),
    expect: ADMIN(200),
    scope: 'users:read',
  },
  {
    route: `GET ${API}/users/:id`,
    request: (c) => get(`${API}/users/${c.target.user.id}`),
    expect: OWNER(200),
    scope: 'users:read',
  },
  {
    route: `HEAD ${API}/users/:id`,
    request: (c) => ({ method: 'HEAD', url: `${API}/users/${c.target.user.id}` }),
    expect: OWNER(200),
    scope: 'users:read',
  },
  {
    route: `PUT ${API}/users/:id`,
    request: (c) => ({
      method: 'PUT',
      url: `${API}/users/${c.target.user.id}`,
      payload: { full_name: 'Put By Admin' },
    }),
    expect: ADMIN(200),
    scope: 'users:write',
  },
  {
    route: `PATCH ${API}/users/:id`,
    request: (c) => ({
      method: 'PATCH',
      url: `${API}/users/${c.target.user.id}`,
      payload: { full_name: 'Patched By Admin', is_active: true },
    }),
    expect: ADMIN(200),
    scope: 'users:write',
  },
  {
    route: `POST ${API}/users/:id/activate`,
    request: (c) => ({ method: 'POST', url: `${API}/users/${c.target.user.id}/activate` }),
    expect: ADMIN(200),
    scope: 'users:write',
  },
  {
    route: `POST ${API}/users/:id/deactivate`,
    request: (c) => ({ method: 'POST', url: `${API}/users/${c.target.user.id}/deactivate` }),
    expect: ADMIN(200),
    scope: 'users:write',
    fresh: true,
  },
  {
    route: `DELETE ${API}/users/:id`,
    request: (c) => ({ method: 'DELETE', url: `${API}/users/${c.target.user.id}` }),
    expect: ADMIN(204),
    scope: 'users:write',
    fresh: true,
  },
  {
    route: `GET ${API}/users/:id/sessions`,
    request: (c) => get(`${API}/users/${c.target.user.id}/sessions`),
    expect: SUPER(200),
  },
  {
    route: `DELETE ${API}/users/:id/sessions`,
    request: (c) => ({ method: 'DELETE', url: `${API}/users/${c.target.user.id}/sessions` }),
    expect: SUPER(204),
    fresh: true,
  },
  {
    route: `DELETE ${API}/users/:id/sessions/:session_id`,
    request: async (c) => ({
      method: 'DELETE',
      url: `${API}/users/${c.target.user.id}/sessions/${await c.targetSession()}`,
    }),
    expect: SUPER(204),
  },

  {
    route: `POST ${API}/users/:user_id/personas`,
    request: (c) => ({ method: 'POST', url: `${API}/users/${c.target.user.id}/personas`, payload: persona() }),
    expect: OWNER(201),
    scope: 'personas:write',
  },
  {
    route: `GET ${API}/users/:user_id/personas`,
    request: (c) => get(`${API}/users/${c.target.user.id}/personas`),
    expect: OWNER(200),
    scope: 'personas:read',
  },
  {
    route: `GET ${API}/users/:user_id/personas/:persona_id`,
    request: (c) => get(`${API}/users/${c.target.user.id}/personas/${c.target.persona}`),
    expect: OWNER(200),
    scope: 'personas:read',
  },
  {
    route: `PUT ${API}/users/:user_id/personas/:persona_id`,
    request: (c) => ({
      method: 'PUT',
      url: `${API}/users/${c.target.user.id}/personas/${c.target.persona}`,
      payload: { description: 'put' },
    }),
    expect: OWNER(200),
    scope: 'personas:write',
  },
  {
    route: `PATCH ${API}/users/:user_id/personas/:persona_id`,
    request: (c) => ({
      method: 'PATCH',
      url: `${API}/users/${c.target.user.id}/personas/${c.target.persona}`,
      payload: { status: 'active' },
    }),
    expect: OWNER(200),
    scope: 'personas:write',
  },
  {
    route: `DELETE ${API}/users/:user_id/personas/:persona_id`,
    request: (c) => ({ method: 'DELETE', url: `${API}/users/${c.target.user.id}/personas/${c.target.persona}` }),
    expect: OWNER(204),
    scope: 'personas:write',
    fresh: true,
  },

  {
    route: `POST ${API}/api-keys`,
    request: () => ({
      method: 'POST',
      url: `${API}/api-keys`,
      payload: { name: `key-${uid()}`, scopes: ['users:read'] },
    }),
    expect: SUPER(201),
  },
  { route: `GET ${API}/api-keys`, request: () => get(`${API}/api-keys`), expect: SUPER(200) },
  {
    route: `GET ${API}/api-keys/:id`,
    request: async (c) => get(`${API}/api-keys/${await c.throwAwayKey()}`),
    expect: SUPER(200),
  },
  {
    route: `DELETE ${API}/api-keys/:id`,
    request: async (c) => ({ method: 'DELETE', url: `${API}/api-keys/${await c.throwAwayKey()}` }),
    expect: SUPER(204),
  },
  { route: `GET ${API}/audit-events`, request: () => get(`${API}/audit-events?limit=5`), expect: SUPER(200) },
];

/**
 * Opens the test app and records every route the app registers (method and template), from the Fastify
 * instance's creation on: the diagnostics channel Fastify publishes each new instance on lets the hook in
 * before buildApp adds a single route.
 */
async function openRecordingRoutes(
  tdb: TestDatabase,
  options: TestAppOptions,
): Promise<{ t: TestApp; routes: Set<string> }> {
  const routes = new Set<string>();
  const onInstance = (message: unknown) => {
    const { fastify } = message as { fastify: FastifyInstance };
    fastify.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) routes.add(`${method} ${route.url}`);
    });
  };
  subscribe('fastify.initialization', onInstance);
  try {
    return { t: await openTestApp(tdb, options), routes };
  } finally {
    unsubscribe('fastify.initialization', onInstance);
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function expectStatus(res: LightMyRequestResponse, status: number, what: string): void {
  assert.equal(res.statusCode, status, `${what}: ${res.statusCode} ${res.body}`);
  if (status === 401) assert.equal(res.headers['www-authenticate'], 'Bearer', `${what}: WWW-Authenticate`);
}

onEachDatabase('access policy', (tdb) => {
  let t: TestApp;
  let routes: Set<string>;
  let root: SignedIn;
  let alice: Person;
  let bob: Person;
  let boss: Person;
  const keys = new Map<string, string>();

  const send = (options: InjectOptions) => t.app.inject(options);

  async function createKey(scopes: readonly Scope[]): Promise<{ id: string; secret: string }> {
    const res = await send({
      method: 'POST',
      url: `${API}/api-keys`,
      headers: root.headers,
      payload: { name: `policy ${scopes.join(' ')} ${uid()}`, scopes },
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  }

  /** A user (or superuser) with a username and one persona, signed in. */
  async function person(superuser = false): Promise<Person> {
    const signed = await t.signUp({ superuser, email: `p-${uid()}@example.com` });
    const named = await send({
      method: 'PATCH',
      url: `${API}/users/${signed.user.id}`,
      headers: root.headers,
      payload: { username: `u-${uid()}` },
    });
    assert.equal(named.statusCode, 200, named.body);
    const created = await send({
      method: 'POST',
      url: `${API}/users/${signed.user.id}/personas`,
      headers: root.headers,
      payload: persona(),
    });
    assert.equal(created.statusCode, 201, created.body);
    return { ...signed, user: named.json(), persona: created.json().id };
  }

  /** Signs `email` in once more and returns the id of that new session. */
  async function newSession(email: string): Promise<string> {
    const extra = await login(email);
    const list = await send({ url: `${API}/auth/sessions`, headers: bearer(extra.access_token) });
    const current = (list.json().sessions as { id: string; current: boolean }[]).find((s) => s.current);
    assert.ok(current, list.body);
    return current.id;
  }

  async function login(email: string) {
    const res = await send({
      method: 'POST',
      url: `${API}/auth/login`,
      payload: { username: email, password: TEST_PASSWORD },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { access_token: string; refresh_token: string };
  }

  function headersFor(row: Row, who: Who, caller: Person | undefined): Record<string, string> {
    if (who === 'anonymous') return {};
    if (caller) return caller.headers;
    // Both ways of sending a key: Authorization for the one with the scope, X-API-Key for the other.
    if (who === 'key+scope') return bearer(keys.get(row.scope ?? 'all') as string);
    return { 'x-api-key': keys.get(row.scope ? `not ${row.scope}` : 'users:read') as string };
  }

  before(async () => {
    ({ t, routes } = await openRecordingRoutes(tdb, {
      defaultCredentials: false,
      adminConsoleDir: builtConsoleDir(),
      metrics: { token: 'policy-table-metrics-token' },
    }));
    await emptyTables(t.database);
    root = await t.signUp({ superuser: true });
    alice = await person();
    bob = await person();
    boss = await person(true);
    keys.set('all', (await createKey(SCOPES)).secret);
    for (const scope of SCOPES) {
      keys.set(scope, (await createKey([scope])).secret);
      keys.set(`not ${scope}`, (await createKey(SCOPES.filter((s) => s !== scope))).secret);
    }
  });
  after(() => t.close());

  it('has a row for every route the app registers, and no row for a route it does not', () => {
    const table = new Set(ROWS.map((row) => row.route));
    assert.equal(table.size, ROWS.length, 'one row per route');
    assert.deepEqual(
      [...routes].filter((route) => !table.has(route)),
      [],
      'routes without a row in the policy table: add one',
    );
    assert.deepEqual(
      [...table].filter((route) => !routes.has(route)),
      [],
      'rows for routes the app does not have',
    );
  });

  it('answers every route x caller as the policy says', async (ctx: TestContext) => {
    const failures: string[] = [];
    const lines: string[] = [];
    for (const row of ROWS) {
      const got: string[] = [];
      for (const [i, who] of WHO.entries()) {
        // Destructive rows: a user, another user and a superuser of their own, with the persistent ones untouched.
        const [user, other, superuser] = row.fresh
          ? [await person(), await person(), await person(true)]
          : [alice, bob, boss];
        const caller = who === 'user' ? user : who === 'other' ? other : who === 'superuser' ? superuser : undefined;
        const mine = who === 'other' || !caller ? user : caller;
        const cell: Cell = {
          who,
          caller,
          target: user,
          mine,
          extraSession: () => newSession(mine.user.email),
          targetSession: () => newSession(user.user.email),
          async refreshToken() {
            return (await login(user.user.email)).refresh_token;
          },
          async accountToken(kind) {
            const token = randomBytes(32).toString('base64url');
            const now = Date.now();
            await new AccountTokenRepository(t.database).create({
              user_id: user.user.id,
              kind,
              token_hash: createHash('sha256').update(token).digest('hex'),
              email: user.user.email,
              created_at: new Date(now).toISOString(),
              expires_at: new Date(now + 600_000).toISOString(),
            });
            return token;
          },
          async throwAwayKey() {
            return (await createKey(['personas:read'])).id;
          },
        };
        const request = await row.request(cell);
        const res = await send({ ...request, headers: headersFor(row, who, caller) });
        const expected = row.expect[i] as number;
        got.push(String(res.statusCode));
        try {
          expectStatus(res, expected, `${row.route} as ${who}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
      lines.push(`${row.route.padEnd(52)} ${got.map((s) => s.padStart(9)).join(' ')}  ${row.scope ?? ''}`);
    }
    ctx.diagnostic(`${'route'.padEnd(52)} ${WHO.map((w) => w.padStart(9)).join(' ')}  scope`);
    for (const line of lines) ctx.diagnostic(line);
    assert.deepEqual(failures, []);
  });

  it('ignores is_superuser and is_active sent to /auth/register', async () => {
    const res = await send({
      method: 'POST',
      url: `${API}/auth/register`,
      payload: { email: `sneaky-${uid()}@example.com`, password: TEST_PASSWORD, is_superuser: true, is_active: false },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().is_superuser, false);
    assert.equal(res.json().is_active, true);
    const signed = await login(res.json().email);
    expectStatus(
      await send({ url: `${API}/users`, headers: bearer(signed.access_token) }),
      403,
      'registered user lists',
    );
  });

  it('lets no API key grant or revoke the superuser role, and keeps keys off /users/me', async () => {
    const writer = keys.get('users:write') as string;
    for (const method of ['PATCH', 'PUT'] as const) {
      for (const is_superuser of [true, false]) {
        const res = await send({
          method,
          url: `${API}/users/${alice.user.id}`,
          headers: { 'x-api-key': writer },
          payload: { is_superuser },
        });
        expectStatus(res, 403, `${method} is_superuser=${is_superuser} with users:write`);
      }
    }
    const plain = await send({
      method: 'PATCH',
      url: `${API}/users/${alice.user.id}`,
      headers: { 'x-api-key': writer },
      payload: { full_name: 'Keyed' },
    });
    expectStatus(plain, 200, 'the same key may change other fields');
    assert.equal(plain.json().is_superuser, false);
    for (const headers of [{ 'x-api-key': keys.get('all') as string }, bearer(keys.get('all') as string)]) {
      expectStatus(await send({ url: `${API}/users/me`, headers }), 403, 'all-scopes key on /users/me');
      expectStatus(await send({ url: `${API}/auth/me`, headers }), 403, 'all-scopes key on /auth/me');
    }
  });

  it('hides which paths exist from anonymous callers: unknown path 401, signed-in 404', async () => {
    for (const url of ['/nope', `${API}/nothing-here`, `${API}/users/${alice.user.id}/nothing`]) {
      expectStatus(await send({ url }), 401, `anonymous ${url}`);
      expectStatus(await send({ url, headers: alice.headers }), 404, `user ${url}`);
      expectStatus(await send({ url, headers: { 'x-api-key': keys.get('all') as string } }), 404, `key ${url}`);
    }
  });

  it('refuses wrong credentials with 401 even where a key or token would be allowed', async () => {
    for (const headers of [
      bearer('usk_not-a-real-key'),
      { 'x-api-key': 'usk_not-a-real-key' },
      bearer('not.a.jwt'),
      { authorization: 'Basic YTpi' },
      { ...alice.headers, 'x-api-key': keys.get('all') as string },
    ]) {
      expectStatus(await send({ url: `${API}/users/${alice.user.id}`, headers }), 401, JSON.stringify(headers));
    }
  });

  it("lets no API key change, deactivate or delete a superuser's account (it could take the account over)", async () => {
    const target = await person(true);
    const writer = { 'x-api-key': keys.get('users:write') as string };
    const attempts: [string, InjectOptions][] = [
      [
        'set password',
        { method: 'PATCH', url: `${API}/users/${target.user.id}`, payload: { password: 'taken-Over-8812' } },
      ],
      ['PUT email', { method: 'PUT', url: `${API}/users/${target.user.id}`, payload: { email: 'mine@example.com' } }],
      ['deactivate', { method: 'POST', url: `${API}/users/${target.user.id}/deactivate` }],
      ['delete', { method: 'DELETE', url: `${API}/users/${target.user.id}` }],
    ];
    for (const [what, options] of attempts) {
      expectStatus(await send({ ...options, headers: writer }), 403, `${what} of a superuser by a users:write key`);
    }
    const still = await send({ url: `${API}/users/me`, headers: target.headers });
    expectStatus(still, 200, 'the superuser is untouched and still signed in');
    assert.equal(still.json().email, target.user.email);
    // The same key still manages ordinary users.
    const plain = await person();
    expectStatus(
      await send({ method: 'POST', url: `${API}/users/${plain.user.id}/deactivate`, headers: writer }),
      200,
      'deactivate an ordinary user by key',
    );
  });

  // Last: it empties the tables.
  it('keeps the last active superuser: demote, deactivate and delete answer 409', async () => {
    await emptyTables(t.database);
    const solo = await t.signUp({ superuser: true });
    const id = solo.user.id;
    const attempts: [string, InjectOptions][] = [
      [
        'demote',
        { method: 'PATCH', url: `${API}/users/${id}`, headers: solo.headers, payload: { is_superuser: false } },
      ],
      [
        'PUT demote',
        { method: 'PUT', url: `${API}/users/${id}`, headers: solo.headers, payload: { is_superuser: false } },
      ],
      [
        'PATCH inactive',
        { method: 'PATCH', url: `${API}/users/${id}`, headers: solo.headers, payload: { is_active: false } },
      ],
      ['deactivate', { method: 'POST', url: `${API}/users/${id}/deactivate`, headers: solo.headers }],
      ['delete', { method: 'DELETE', url: `${API}/users/${id}`, headers: solo.headers }],
      [
        'delete me',
        { method: 'DELETE', url: `${API}/users/me`, headers: solo.headers, payload: { password: TEST_PASSWORD } },
      ],
    ];
    for (const [what, options] of attempts) expectStatus(await send(options), 409, what);
    const me = await send({ url: `${API}/users/me`, headers: solo.headers });
    expectStatus(me, 200, 'still signed in');
    assert.equal(me.json().is_superuser, true);
    assert.equal(me.json().is_active, true);

    // With a second active superuser, the first may step down.
    const second = await t.signUp();
    const promoted = await send({
      method: 'PATCH',
      url: `${API}/users/${second.user.id}`,
      headers: solo.headers,
      payload: { is_superuser: true },
    });
    expectStatus(promoted, 200, 'promote');
    expectStatus(
      await send({
        method: 'PATCH',
        url: `${API}/users/${id}`,
        headers: solo.headers,
        payload: { is_superuser: false },
      }),
      200,
      'demote with another superuser',
    );
    // The demotion took effect on the very next request of the same token.
    expectStatus(await send({ url: `${API}/users`, headers: solo.headers }), 403, 'demoted user lists');
    expectStatus(
      await send({ method: 'DELETE', url: `${API}/users/${second.user.id}`, headers: second.headers }),
      409,
      'the remaining superuser deletes itself',
    );
  });
});

onEachDatabase('access policy with REGISTRATION=closed', (tdb) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(tdb, { access: { registration: 'closed' }, defaultCredentials: false });
  });
  after(() => t.close());

  it('refuses registration with 403 whoever asks, and still lets a superuser create users', async () => {
    const root = await t.signUp({ superuser: true });
    const body = { email: `closed-${uid()}@example.com`, password: TEST_PASSWORD };
    for (const headers of [{}, root.headers, { 'x-api-key': t.apiKey }]) {
      const res = await t.app.inject({ method: 'POST', url: `${API}/auth/register`, headers, payload: body });
      expectStatus(res, 403, 'register');
      assert.match(res.json().detail, /closed/i);
    }
    const created = await t.app.inject({ method: 'POST', url: `${API}/users`, headers: root.headers, payload: body });
    expectStatus(created, 201, 'POST /users');
  });
});

describe('the policy table', () => {
  it('names each route once', () => {
    assert.equal(new Set(ROWS.map((row) => row.route)).size, ROWS.length);
  });
});

/**
 * The audit log's read side through the whole app on each database: GET /api/v1/audit-events (superusers) and
 * GET /api/v1/users/me/audit-events (one's own security events): filters, newest-first keyset pages that
 * neither repeat nor skip while events keep arriving, cursors that cannot be forged, and no secret anywhere.
 * Events are written with recordAudit at chosen times, each test in a time window of its own, so the tests
 * do not depend on which service actions record what (the services' own tests cover that).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { InjectOptions } from 'fastify';
import { type AuditContext, type AuditEntry, recordAudit } from '../src/audit/audit-events.js';
import { openTestApp, type SignedIn, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const API = '/api/v1';

interface Event {
  id: string;
  created_at: string;
  event: string;
  actor_user_id: string | null;
  actor_api_key_id: string | null;
  target_user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  detail: Record<string, unknown> | null;
}
interface EventPage {
  audit_events: Event[];
  next_cursor: string | null;
}

let window = 0;
/** A fresh day in 2031 for one test's events, as [from, to) and a time `n` seconds into it. */
function newWindow() {
  const start = Date.UTC(2031, 0, 1) + ++window * 86_400_000;
  return {
    from: new Date(start).toISOString(),
    to: new Date(start + 86_400_000).toISOString(),
    at: (seconds: number) => new Date(start + seconds * 1000),
  };
}

onEachDatabase('audit log API', (tdb) => {
  let t: TestApp;
  let root: SignedIn;
  let alice: SignedIn;
  let bob: SignedIn;
  let keyId: string;
  const secrets: string[] = [];

  /** Every answer of this suite passes through here: no secret used in the suite may appear in one. */
  async function send(options: InjectOptions) {
    const res = await t.app.inject(options);
    for (const secret of secrets) assert.ok(!res.body.includes(secret), `a secret leaked in ${options.url}`);
    return res;
  }

  async function list(url: string, who: SignedIn = root): Promise<EventPage> {
    const res = await send({ url, headers: who.headers });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  const record = (at: Date, entry: AuditEntry, context?: AuditContext) => recordAudit(t.database, context, entry, at);

  before(async () => {
    t = await openTestApp(tdb, { defaultCredentials: false });
    root = await t.signUp({ superuser: true });
    alice = await t.signUp();
    bob = await t.signUp();
    const key = await send({
      method: 'POST',
      url: `${API}/api-keys`,
      headers: root.headers,
      payload: { name: 'audit-test', scopes: ['users:read', 'users:write'] },
    });
    assert.equal(key.statusCode, 201, key.body);
    keyId = key.json().id;
    secrets.push(TEST_PASSWORD, t.apiKey, key.json().secret);
    for (const s of [root, alice, bob]) secrets.push(s.refresh_token, s.access_token);
  });
  after(() => t.close());

  it('lists events newest first with every field; the detail comes back as an object', async () => {
    const w = newWindow();
    const context = {
      actorUserId: root.user.id,
      ip: '203.0.113.7',
      userAgent: 'audit-test/1.0',
      requestId: 'req-audit-1',
    };
    await record(w.at(1), { event: 'user.created', target: alice.user.id }, context);
    await record(w.at(2), { event: 'user.updated', target: alice.user.id, detail: { fields: ['full_name'] } }, context);
    await record(w.at(3), { event: 'user.deactivated', target: alice.user.id }, { via: 'cli' });

    const page = await list(`${API}/audit-events?from=${w.from}&to=${w.to}`);
    assert.deepEqual(
      page.audit_events.map((e) => e.event),
      ['user.deactivated', 'user.updated', 'user.created'],
    );
    assert.equal(page.next_cursor, null);
    const [cli, updated] = page.audit_events;
    assert.deepEqual(
      { ...updated, id: undefined },
      {
        id: undefined,
        created_at: w.at(2).toISOString(),
        event: 'user.updated',
        actor_user_id: root.user.id,
        actor_api_key_id: null,
        target_user_id: alice.user.id,
        ip: '203.0.113.7',
        user_agent: 'audit-test/1.0',
        request_id: 'req-audit-1',
        detail: { fields: ['full_name'] },
      },
    );
    assert.deepEqual(cli?.detail, { via: 'cli' });
    assert.equal(cli?.actor_user_id, null);
  });

  it('filters by user, actor, event and time (from inclusive, to exclusive), alone and together', async () => {
    const w = newWindow();
    await record(w.at(10), { event: 'login.succeeded', target: alice.user.id });
    await record(w.at(20), { event: 'user.updated', target: bob.user.id }, { actorUserId: alice.user.id });
    await record(w.at(30), { event: 'user.updated', target: alice.user.id }, { actorApiKeyId: keyId });
    await record(w.at(40), { event: 'login.failed', target: bob.user.id });
    const q = (query: string) =>
      list(`${API}/audit-events?from=${w.from}&to=${w.to}&${query}`).then((p) =>
        p.audit_events.map((e) => e.created_at),
      );
    const at = (...seconds: number[]) => seconds.map((s) => w.at(s).toISOString());

    assert.deepEqual(await q(`user_id=${alice.user.id}`), at(30, 10));
    assert.deepEqual(await q(`user_id=${bob.user.id}`), at(40, 20));
    assert.deepEqual(await q(`actor_id=${alice.user.id}`), at(20));
    assert.deepEqual(await q(`actor_id=${keyId}`), at(30));
    assert.deepEqual(await q('event=user.updated'), at(30, 20));
    assert.deepEqual(await q(`event=user.updated&user_id=${alice.user.id}`), at(30));
    // from is inclusive, to exclusive: [20 s, 40 s) holds 20 and 30.
    const range = await list(`${API}/audit-events?from=${w.at(20).toISOString()}&to=${w.at(40).toISOString()}`);
    assert.deepEqual(
      range.audit_events.map((e) => e.created_at),
      at(30, 20),
    );
  });

  it('refuses bad filters with 422 in the validation shape', async () => {
    for (const query of [
      'event=user.exploded',
      'from=yesterday',
      'to=2031-13-01T00:00:00Z',
      'user_id=not-a-uuid',
      'limit=0',
      'limit=201',
    ]) {
      const res = await send({ url: `${API}/audit-events?${query}`, headers: root.headers });
      assert.equal(res.statusCode, 422, `${query}: ${res.body}`);
      assert.ok(Array.isArray(res.json().detail), query);
    }
  });

  it('pages newest first across 3 pages with no repeat and no gap while new events arrive', async () => {
    const w = newWindow();
    for (let i = 1; i <= 10; i++) {
      await record(w.at(i), { event: 'login.succeeded', target: bob.user.id, detail: { n: i } });
    }
    // Two events in the same millisecond: the id breaks the tie, so neither is lost at a page boundary.
    await record(w.at(5), { event: 'login.failed', target: bob.user.id, detail: { n: 5.5 } });
    const base = `${API}/audit-events?from=${w.from}&to=${w.to}&user_id=${bob.user.id}&limit=4`;
    const seen: Event[] = [];
    let url = base;
    let pages = 0;
    for (;;) {
      const page = await list(url);
      seen.push(...page.audit_events);
      pages++;
      // Newer events arrive between pages (in the same window and for the same user): they belong before
      // the first page, so they must not show up on the later ones.
      await record(w.at(100 + pages), { event: 'login.succeeded', target: bob.user.id, detail: { n: 100 + pages } });
      if (!page.next_cursor) break;
      url = `${base}&after=${encodeURIComponent(page.next_cursor)}`;
    }
    assert.equal(pages, 3);
    assert.equal(new Set(seen.map((e) => e.id)).size, 11, 'no event twice');
    const sorted = [...seen].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
    assert.deepEqual(seen, sorted, 'newest first, ties by id');
    assert.deepEqual(
      seen.map((e) => e.detail?.n),
      [10, 9, 8, 7, 6, ...(seen[5]?.detail?.n === 5 ? [5, 5.5] : [5.5, 5]), 4, 3, 2, 1],
    );
  });

  it('refuses a tampered, forged or re-used cursor with 422, and changes nothing', async () => {
    const w = newWindow();
    for (let i = 1; i <= 3; i++) await record(w.at(i), { event: 'logout', target: alice.user.id });
    const base = `${API}/audit-events?from=${w.from}&to=${w.to}&limit=1`;
    const first = await list(base);
    const cursor = first.next_cursor as string;
    assert.ok(cursor);
    const [body, mac] = cursor.split('.') as [string, string];
    const forgedBody = Buffer.from(JSON.stringify(['event', 'desc', 'zzz', '00000000-0000-0000-0000-000000000000']));
    const bad = [
      `${body}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`,
      `${forgedBody.toString('base64url')}.${mac}`,
      'not-a-cursor',
    ];
    for (const after of bad) {
      const res = await send({ url: `${base}&after=${encodeURIComponent(after)}`, headers: root.headers });
      assert.equal(res.statusCode, 422, res.body);
      assert.deepEqual(res.json().detail[0].loc, ['query', 'after']);
    }
    // A cursor is bound to its filters: with another event filter, or on the other list, it is refused.
    const other = await send({
      url: `${base}&event=logout&after=${encodeURIComponent(cursor)}`,
      headers: root.headers,
    });
    assert.equal(other.statusCode, 422, other.body);
    const mine = await send({
      url: `${API}/users/me/audit-events?limit=1&after=${encodeURIComponent(cursor)}`,
      headers: alice.headers,
    });
    assert.equal(mine.statusCode, 422, mine.body);
    // The genuine cursor still works and nothing was lost.
    const second = await list(`${base}&after=${encodeURIComponent(cursor)}`);
    assert.equal(second.audit_events[0]?.created_at, w.at(2).toISOString());
  });

  it('only superusers read the whole log: users and API keys (even with every scope) are refused', async () => {
    const user = await send({ url: `${API}/audit-events`, headers: alice.headers });
    assert.equal(user.statusCode, 403, user.body);
    const key = await send({ url: `${API}/audit-events`, headers: { 'x-api-key': t.apiKey } });
    assert.equal(key.statusCode, 403, key.body);
    const anonymous = await send({ url: `${API}/audit-events` });
    assert.equal(anonymous.statusCode, 401, anonymous.body);
    const ownByKey = await send({ url: `${API}/users/me/audit-events`, headers: { 'x-api-key': t.apiKey } });
    assert.equal(ownByKey.statusCode, 403, ownByKey.body);
  });

  it('records real actions with who, where and which request, and shows them to the right readers', async () => {
    // Now, not the 2031 windows of the other tests.
    const since = new Date(Date.now() - 1000).toISOString();
    const until = new Date(Date.now() + 60_000).toISOString();
    const headers = { 'user-agent': 'audit-e2e/2.0', 'x-request-id': 'audit-e2e-login' };
    const failed = await send({
      method: 'POST',
      url: `${API}/auth/login`,
      headers,
      payload: { username: alice.user.email, password: 'not-her-password-at-all' },
    });
    assert.equal(failed.statusCode, 401, failed.body);
    const login = await send({
      method: 'POST',
      url: `${API}/auth/login`,
      headers,
      payload: { username: alice.user.email, password: TEST_PASSWORD },
    });
    assert.equal(login.statusCode, 200, login.body);
    secrets.push(login.json().refresh_token, login.json().access_token);
    const patched = await send({
      method: 'PATCH',
      url: `${API}/users/${alice.user.id}`,
      headers: root.headers,
      payload: { full_name: 'Alice Audited' },
    });
    assert.equal(patched.statusCode, 200, patched.body);

    const own = await list(`${API}/users/me/audit-events?from=${since}&to=${until}`, alice);
    const ok = own.audit_events.find((e) => e.event === 'login.succeeded');
    assert.equal(ok?.user_agent, 'audit-e2e/2.0');
    assert.equal(ok?.request_id, 'audit-e2e-login');
    assert.ok(ok?.ip, 'the client address is recorded');
    assert.ok(own.audit_events.some((e) => e.event === 'login.failed'));
    assert.ok(!own.audit_events.some((e) => e.event === 'user.updated'), 'administrative events are not listed');

    const all = await list(`${API}/audit-events?from=${since}&to=${until}&user_id=${alice.user.id}&event=user.updated`);
    assert.equal(all.audit_events.length, 1, JSON.stringify(all));
    assert.equal(all.audit_events[0]?.actor_user_id, root.user.id);
  });

  it("/users/me/audit-events shows the caller's own security events only", async () => {
    const w = newWindow();
    await record(w.at(1), { event: 'login.succeeded', target: alice.user.id }, { ip: '198.51.100.1' });
    await record(w.at(2), { event: 'password.changed', target: alice.user.id }, { actorUserId: alice.user.id });
    // Not hers: bob's sign-in, and what alice did to bob.
    await record(w.at(3), { event: 'login.succeeded', target: bob.user.id });
    await record(w.at(4), { event: 'session.revoked', target: bob.user.id }, { actorUserId: alice.user.id });
    // About her, but administrative rather than a security event of her own account.
    await record(w.at(5), { event: 'user.updated', target: alice.user.id }, { actorUserId: root.user.id });
    await record(w.at(6), { event: 'user.promoted', target: alice.user.id }, { actorUserId: root.user.id });

    const window = `from=${w.from}&to=${w.to}`;
    const own = await list(`${API}/users/me/audit-events?${window}`, alice);
    assert.deepEqual(
      own.audit_events.map((e) => [e.event, e.target_user_id]),
      [
        ['password.changed', alice.user.id],
        ['login.succeeded', alice.user.id],
      ],
    );
    const bobs = await list(`${API}/users/me/audit-events?${window}`, bob);
    assert.deepEqual(
      bobs.audit_events.map((e) => e.event),
      ['session.revoked', 'login.succeeded'],
    );
    const filtered = await list(`${API}/users/me/audit-events?${window}&event=login.succeeded`, alice);
    assert.deepEqual(
      filtered.audit_events.map((e) => e.created_at),
      [w.at(1).toISOString()],
    );
    // Only security events can be asked for.
    const admin = await send({ url: `${API}/users/me/audit-events?event=user.updated`, headers: alice.headers });
    assert.equal(admin.statusCode, 422, admin.body);
    // No other user's either: user_id and actor_id are not parameters here, so (like any unknown parameter)
    // they are ignored and the answer is still alice's own.
    for (const query of [`user_id=${bob.user.id}`, `actor_id=${bob.user.id}`]) {
      const res = await list(`${API}/users/me/audit-events?${window}&${query}`, alice);
      assert.deepEqual(res.audit_events, own.audit_events, query);
    }
  });
});

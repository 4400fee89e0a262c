// The audit trail of one person's whole story, read back through the API as a superuser and as the person:
// register, verify the email, log in, three wrong passwords, a reset by mail, log in with the new password.
// Every step is there, in order, with who and from where, and no row holds a password, token or hash.
// On every database, with a real SMTP server on loopback.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { linkToken, startTestSmtp, type TestSmtp } from './support/smtp.js';
import { openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const API = '/api/v1';
const NEW_PASSWORD = 'Juniper-Harbor-Quill-58';
const AGENT = 'audit-trail-test/1.0';
const IP = '203.0.113.77';

interface AuditEvent {
  event: string;
  created_at: string;
  actor_user_id: string | null;
  actor_api_key_id: string | null;
  target_user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  detail: Record<string, unknown> | null;
}

onEachDatabase('audit trail of a whole account story', (tdb) => {
  let t: TestApp;
  let app: FastifyInstance;
  let smtp: TestSmtp;

  before(async () => {
    smtp = await startTestSmtp();
    t = await openTestApp(tdb, { defaultCredentials: false, mail: { smtpUrl: smtp.url, pollMs: 100 } });
    app = t.app;
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });

  const post = (path: string, payload: object, extra: Partial<InjectOptions> = {}) =>
    app.inject({
      method: 'POST',
      url: `${API}${path}`,
      payload,
      remoteAddress: IP,
      ...extra,
      headers: { 'user-agent': AGENT, ...extra.headers },
    });

  /** Every page of a list of events, following next_cursor. */
  async function allEvents(url: string, headers: Record<string, string>): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let next: string | null = null;
    do {
      const sep = url.includes('?') ? '&' : '?';
      const res: LightMyRequestResponse = await app.inject({
        method: 'GET',
        url: next ? `${url}${sep}limit=3&after=${encodeURIComponent(next)}` : `${url}${sep}limit=3`,
        headers,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as { audit_events: AuditEvent[]; next_cursor: string | null };
      events.push(...page.audit_events);
      next = page.next_cursor;
    } while (next);
    return events;
  }

  it('register, verify, login, 3 wrong passwords, reset, login: each recorded once, in order, without secrets', async () => {
    const email = `story-${Date.now()}@example.com`;
    const secrets: string[] = [TEST_PASSWORD, NEW_PASSWORD];

    const registered = await post(
      '/auth/register',
      { email, password: TEST_PASSWORD },
      { headers: { 'x-request-id': 'req-register-1' } },
    );
    assert.equal(registered.statusCode, 201, registered.body);
    const userId = registered.json().id as string;
    const verifyToken = linkToken(await smtp.next((m) => m.envelopeTo.includes(email)), '/verify-email');
    secrets.push(verifyToken);
    assert.equal((await post('/auth/verify', { token: verifyToken })).statusCode, 200);

    const first = await post('/auth/login', { username: email, password: TEST_PASSWORD });
    assert.equal(first.statusCode, 200, first.body);
    secrets.push(first.json().access_token, first.json().refresh_token);
    for (let i = 0; i < 3; i++) {
      assert.equal((await post('/auth/login', { username: email, password: `wrong-${i}-password` })).statusCode, 401);
    }
    assert.equal((await post('/auth/forgot-password', { email })).statusCode, 202);
    const resetToken = linkToken(await smtp.next((m) => m.envelopeTo.includes(email)), '/reset-password');
    secrets.push(resetToken);
    assert.equal((await post('/auth/reset-password', { token: resetToken, password: NEW_PASSWORD })).statusCode, 204);
    const last = await post('/auth/login', { username: email, password: NEW_PASSWORD });
    assert.equal(last.statusCode, 200, last.body);
    secrets.push(last.json().access_token, last.json().refresh_token);

    const admin = await t.signUp({ superuser: true });
    const seen = await allEvents(`${API}/audit-events?user_id=${userId}`, admin.headers);
    // Newest first on the wire; the story reads oldest first.
    const story = [...seen].reverse();
    assert.deepEqual(
      story.map((e) => e.event),
      [
        'user.registered',
        'email.verification_sent',
        'email.verified',
        'login.succeeded',
        'login.failed',
        'login.failed',
        'login.failed',
        'password.reset_requested',
        'password.reset',
        'login.succeeded',
      ],
    );
    for (let i = 1; i < story.length; i++) {
      assert.ok((story[i - 1] as AuditEvent).created_at <= (story[i] as AuditEvent).created_at, 'in time order');
    }
    for (const event of story) {
      assert.equal(event.target_user_id, userId);
      assert.equal(event.ip, IP, `${event.event} records the client IP`);
      assert.equal(event.user_agent, AGENT, `${event.event} records the user agent`);
      assert.ok(event.request_id, `${event.event} records the request id`);
    }
    assert.equal(story[0]?.request_id, 'req-register-1', "the caller's X-Request-Id is the one recorded");
    for (const failed of story.filter((e) => e.event === 'login.failed')) {
      assert.deepEqual(failed.detail, { reason: 'bad_credentials' });
    }
    const reset = story.find((e) => e.event === 'password.reset');
    assert.equal(reset?.detail?.sessions_ended, 1, 'the reset ended the one open session');

    // The person sees the same security events of their own account (registration is not one of them).
    const mine = await allEvents(`${API}/users/me/audit-events`, {
      authorization: `Bearer ${last.json().access_token}`,
    });
    assert.deepEqual(
      mine.map((e) => e.event),
      story
        .filter((e) => e.event !== 'user.registered')
        .map((e) => e.event)
        .reverse(),
    );

    // What an administrator does to the account shows in the user's own list as done, not by whom or from where.
    const byAdmin = await app.inject({
      method: 'PATCH',
      url: `${API}/users/${userId}`,
      payload: { email: `moved-${email}` },
      remoteAddress: '198.51.100.9',
      headers: { ...admin.headers, 'user-agent': 'AdminConsole/2.0' },
    });
    assert.equal(byAdmin.statusCode, 200, byAdmin.body);
    // The change and the verification mail it sent to the new address, newest first.
    const recent = (
      await allEvents(`${API}/users/me/audit-events`, { authorization: `Bearer ${last.json().access_token}` })
    ).slice(0, 2);
    assert.deepEqual(recent.map((e) => e.event).sort(), ['email.changed', 'email.verification_sent']);
    for (const event of recent) {
      assert.deepEqual(
        [event.actor_user_id, event.actor_api_key_id, event.ip, event.user_agent, event.request_id],
        [null, null, null, null, null],
        "the administrator's id, address, agent and request are not the user's to see",
      );
    }
    const [adminView] = await allEvents(`${API}/audit-events?user_id=${userId}`, admin.headers);
    assert.equal(adminView?.actor_user_id, admin.user.id, 'the superuser list keeps who did it');
    assert.equal(adminView?.ip, '198.51.100.9');

    // No secret in any audit row, read straight from the table (every column), nor in what the API returned.
    const rows = JSON.stringify(await t.database.kysely.selectFrom('audit_events').selectAll().execute());
    for (const secret of secrets) {
      assert.ok(!rows.includes(secret), 'no password or token in an audit row');
      assert.ok(!JSON.stringify(seen).includes(secret));
    }
    assert.doesNotMatch(rows, /\$argon2|\$2[aby]\$/, 'no password hash in an audit row');
  });
});

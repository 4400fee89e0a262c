/**
 * Email verification and password reset through the whole app on each database, with a real SMTP server on
 * loopback (test/support/smtp.ts): the mails are parsed as a mail client would, the token is read from the link
 * and handed back. Tokens work once, expire, are void after a newer one of their kind, after a password change
 * (reset) or an email change; a reset ends every session; the two request routes answer an unknown address
 * exactly as a known one; both are limited per client IP and per address.
 *
 * The request routes do their work after answering, one request at a time in arrival order (see
 * auth/account.service.ts). So "this request sent nothing" is checked by sending a later request that does
 * send, waiting for its mail, and then looking at the database: by then the earlier request was handled.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { auditEventsTable } from '../src/audit/audit-event.table.js';
import { MAIL_REQUESTS_PER_MINUTE } from '../src/auth/account.routes.js';
import { TOKENS_PER_HOUR } from '../src/auth/account.service.js';
import { AccountTokenRepository } from '../src/auth/account-token.repository.js';
import { type AccountTokenKind, accountTokensTable } from '../src/auth/account-token.table.js';
import { loggerOptions } from '../src/observability/logger.js';
import { linkToken, type ReceivedMail, startTestSmtp, type TestSmtp } from './support/smtp.js';
import { openTestApp, TEST_PASSWORD, type TestApp } from './support/test-app.js';

const API = '/api/v1';
const NEW_PASSWORD = 'Quartz-Meadow-Falcon-47';

interface Registered {
  id: string;
  email: string;
  /** The token of the verification mail registration sent. */
  verifyToken: string;
}

let unique = 0;
const uid = () => `${Date.now().toString(36)}${++unique}`;
/** A client address of its own per call, so the per-IP limit of one test does not reach another's requests. */
const freshIp = () => `10.${(unique >> 16) & 255}.${(unique >> 8) & 255}.${++unique & 255}`;

onEachDatabase('email verification and password reset', (tdb) => {
  let t: TestApp;
  let app: FastifyInstance;
  let smtp: TestSmtp;
  /** Every line the app logged, at the production level. */
  const logs: string[] = [];

  before(async () => {
    smtp = await startTestSmtp();
    t = await openTestApp(tdb, {
      defaultCredentials: false,
      mail: { smtpUrl: smtp.url, pollMs: 100 },
      // The real per-IP limit (tested below); the other requests each come from an address of their own.
      mailRequestsPerMinute: MAIL_REQUESTS_PER_MINUTE,
      logger: await loggerOptions({ level: 'info', format: 'json' }, { destination: { write: (l) => logs.push(l) } }),
    });
    app = t.app;
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });

  const send = (options: InjectOptions) => app.inject({ remoteAddress: freshIp(), ...options });
  const post = (path: string, payload: object, options: Partial<InjectOptions> = {}) =>
    send({ method: 'POST', url: `${API}${path}`, payload, ...options });

  /** The next mail to `email` with this subject. */
  const mailTo = (email: string, subject: RegExp): Promise<ReceivedMail> =>
    smtp.next((mail) => mail.envelopeTo.includes(email) && subject.test(mail.subject));
  const VERIFY_MAIL = /confirm your email/i;
  const RESET_MAIL = /reset your password/i;

  async function register(email = `acct-${uid()}@example.com`): Promise<Registered> {
    const res = await post('/auth/register', { email, password: TEST_PASSWORD, full_name: 'Ada Lovelace' });
    assert.equal(res.statusCode, 201, res.body);
    const user = res.json() as { id: string; is_verified: boolean; verified_at: string | null };
    assert.equal(user.is_verified, false);
    assert.equal(user.verified_at, null);
    const mail = await mailTo(email, VERIFY_MAIL);
    return { id: user.id, email, verifyToken: linkToken(mail, '/verify-email') };
  }

  async function login(email: string, password = TEST_PASSWORD) {
    return post('/auth/login', { username: email, password });
  }

  async function tokensOf(userId: string, kind: AccountTokenKind) {
    const rows = await t.database
      .repository(accountTokensTable)
      .list({ filters: { user_id: userId, kind }, limit: 100 });
    return rows.items;
  }

  async function auditOf(userId: string): Promise<{ events: string[]; text: string }> {
    const page = await t.database
      .repository(auditEventsTable)
      .list({ filters: { target_user_id: userId }, orderBy: { column: 'created_at' }, limit: 100 });
    return { events: page.items.map((row) => row.event), text: JSON.stringify(page.items) };
  }

  /**
   * Waits until every request queued before now has been handled: queues a reset for a fresh user and waits for
   * its mail (the queue runs in order).
   */
  async function barrier(): Promise<void> {
    const { email } = await register();
    assert.equal((await post('/auth/forgot-password', { email })).statusCode, 202);
    await mailTo(email, RESET_MAIL);
  }

  /** Stores a token the way the service does, with the given fields, and returns the token itself. */
  async function plantToken(
    userId: string,
    kind: AccountTokenKind,
    fields: { email: string; expiresInMs: number },
  ): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    await new AccountTokenRepository(t.database).create({
      user_id: userId,
      kind,
      token_hash: createHash('sha256').update(token).digest('hex'),
      email: fields.email,
      created_at: new Date(now - 1000).toISOString(),
      expires_at: new Date(now + fields.expiresInMs).toISOString(),
    });
    return token;
  }

  it('registration mails a verification link; its token verifies the email, once', async () => {
    const user = await register();
    const mail = smtp.mails.find((m) => m.envelopeTo.includes(user.email));
    assert.ok(mail);
    assert.match(mail.text, /\/verify-email#token=/);

    const res = await post('/auth/verify', { token: user.verifyToken });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { id: string; is_verified: boolean; verified_at: string };
    assert.equal(body.id, user.id);
    assert.equal(body.is_verified, true);
    assert.ok(Math.abs(Date.parse(body.verified_at) - Date.now()) < 60_000, body.verified_at);
    assert.ok(!res.body.includes(user.verifyToken));

    const again = await post('/auth/verify', { token: user.verifyToken });
    assert.equal(again.statusCode, 400, again.body);
    assert.match(again.json().detail, /invalid or expired verification token/i);

    const audit = await auditOf(user.id);
    assert.deepEqual(
      audit.events.filter((e) => e.startsWith('email.')),
      ['email.verification_sent', 'email.verified'],
    );
    assert.ok(!audit.text.includes(user.verifyToken), 'no token in the audit log');
    const hash = createHash('sha256').update(user.verifyToken).digest('hex');
    assert.ok(!audit.text.includes(hash), 'no token hash in the audit log');
  });

  it('request-verify-token: a newer token voids the older one; a verified user gets no mail', async () => {
    const user = await register();
    const res = await post('/auth/request-verify-token', { email: user.email.toUpperCase() });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.body, 'null');
    const newer = linkToken(await mailTo(user.email, VERIFY_MAIL), '/verify-email');
    assert.notEqual(newer, user.verifyToken);

    assert.equal((await post('/auth/verify', { token: user.verifyToken })).statusCode, 400, 'the older token is void');
    assert.equal((await post('/auth/verify', { token: newer })).statusCode, 200);

    assert.equal((await post('/auth/request-verify-token', { email: user.email })).statusCode, 202);
    await barrier();
    assert.equal((await tokensOf(user.id, 'verify')).length, 2, 'no token for a verified user');
    assert.equal(smtp.mails.filter((m) => m.envelopeTo.includes(user.email)).length, 2);
  });

  it('refuses an expired token, and one sent to an address the user no longer has', async () => {
    const user = await register();
    const expired = await plantToken(user.id, 'verify', { email: user.email, expiresInMs: -1000 });
    const res = await post('/auth/verify', { token: expired });
    assert.equal(res.statusCode, 400, res.body);
    const oldAddress = await plantToken(user.id, 'verify', { email: `old-${user.email}`, expiresInMs: 3_600_000 });
    assert.equal((await post('/auth/verify', { token: oldAddress })).statusCode, 400);
    const resetExpired = await plantToken(user.id, 'reset', { email: user.email, expiresInMs: -1000 });
    assert.equal((await post('/auth/reset-password', { token: resetExpired, password: NEW_PASSWORD })).statusCode, 400);

    const me = await login(user.email);
    assert.equal(me.statusCode, 200, 'the password is unchanged');
    const view = await send({ url: `${API}/users/me`, headers: { authorization: `Bearer ${me.json().access_token}` } });
    assert.equal(view.json().is_verified, false);
  });

  it('changing the email clears verification and mails the new address; older tokens stop working', async () => {
    const user = await register();
    assert.equal((await post('/auth/verify', { token: user.verifyToken })).statusCode, 200);
    assert.equal((await post('/auth/forgot-password', { email: user.email })).statusCode, 202);
    const resetToken = linkToken(await mailTo(user.email, RESET_MAIL), '/reset-password');

    const session = (await login(user.email)).json() as { access_token: string };
    const headers = { authorization: `Bearer ${session.access_token}` };
    const newEmail = `moved-${uid()}@example.com`;
    const patched = await send({ method: 'PATCH', url: `${API}/users/me`, headers, payload: { email: newEmail } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.json().is_verified, false);
    assert.equal(patched.json().verified_at, null);

    const mail = await mailTo(newEmail, VERIFY_MAIL);
    assert.deepEqual(mail.envelopeTo, [newEmail]);
    const reset = await post('/auth/reset-password', { token: resetToken, password: NEW_PASSWORD });
    assert.equal(reset.statusCode, 400, 'a reset token sent to the old address is void');

    const verified = await post('/auth/verify', { token: linkToken(mail, '/verify-email') });
    assert.equal(verified.statusCode, 200, verified.body);
    assert.equal(verified.json().email, newEmail);
    assert.equal(verified.json().is_verified, true);
  });

  it('changing the email back and forth mails at most TOKENS_PER_HOUR verifications, and revives no reset link', async () => {
    const user = await register();
    assert.equal((await post('/auth/forgot-password', { email: user.email })).statusCode, 202);
    const resetToken = linkToken(await mailTo(user.email, RESET_MAIL), '/reset-password');
    const session = (await login(user.email)).json() as { access_token: string };
    const headers = { authorization: `Bearer ${session.access_token}` };
    const other = `decoy-${uid()}@example.com`;
    // Registration sent one; then A -> B -> A -> B -> A: every change happens, the mails stop at the limit.
    for (const email of [other, user.email, other, user.email]) {
      const patched = await send({ method: 'PATCH', url: `${API}/users/me`, headers, payload: { email } });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal(patched.json().email, email);
    }
    assert.equal((await tokensOf(user.id, 'verify')).length, TOKENS_PER_HOUR, 'no verification past the limit');
    // Back at the address the reset link went to: the link stays void (the first change voided it).
    const reset = await post('/auth/reset-password', { token: resetToken, password: NEW_PASSWORD });
    assert.equal(reset.statusCode, 400, reset.body);
    assert.equal((await login(user.email)).statusCode, 200, 'the password is unchanged');
  });

  it('forgot-password mails a reset link; the reset sets the password, ends every session and works once', async () => {
    const user = await register();
    const sessions = [(await login(user.email)).json(), (await login(user.email)).json()] as {
      access_token: string;
      refresh_token: string;
    }[];

    const res = await post('/auth/forgot-password', { email: user.email });
    assert.equal(res.statusCode, 202, res.body);
    const token = linkToken(await mailTo(user.email, RESET_MAIL), '/reset-password');

    const reset = await post('/auth/reset-password', { token, password: NEW_PASSWORD });
    assert.equal(reset.statusCode, 204, reset.body);
    assert.equal(reset.body, '');

    assert.equal((await login(user.email)).statusCode, 401, 'the old password no longer works');
    assert.equal((await login(user.email, NEW_PASSWORD)).statusCode, 200, 'the new one does');
    for (const session of sessions) {
      const me = await send({ url: `${API}/auth/me`, headers: { authorization: `Bearer ${session.access_token}` } });
      assert.equal(me.statusCode, 401, 'access token of an ended session');
      const refreshed = await post('/auth/refresh', { refresh_token: session.refresh_token });
      assert.equal(refreshed.statusCode, 401, 'refresh token of an ended session');
    }

    const again = await post('/auth/reset-password', { token, password: `Other-${NEW_PASSWORD}` });
    assert.equal(again.statusCode, 400, again.body);
    assert.match(again.json().detail, /invalid or expired reset token/i);
    assert.equal((await login(user.email, NEW_PASSWORD)).statusCode, 200, 'the spent token changed nothing');

    const audit = await auditOf(user.id);
    assert.ok(audit.events.includes('password.reset_requested'), audit.events.join());
    assert.ok(audit.events.includes('password.reset'), audit.events.join());
    assert.ok(!audit.text.includes(token));
  });

  it('a password change voids the outstanding reset and verification tokens', async () => {
    const user = await register();
    assert.equal((await post('/auth/forgot-password', { email: user.email })).statusCode, 202);
    const token = linkToken(await mailTo(user.email, RESET_MAIL), '/reset-password');

    const session = (await login(user.email)).json() as { access_token: string };
    const changed = await post(
      '/auth/password',
      { current_password: TEST_PASSWORD, new_password: NEW_PASSWORD },
      { headers: { authorization: `Bearer ${session.access_token}` } },
    );
    assert.equal(changed.statusCode, 204, changed.body);

    const reset = await post('/auth/reset-password', { token, password: `Other-${NEW_PASSWORD}` });
    assert.equal(reset.statusCode, 400, reset.body);
    assert.equal((await login(user.email, NEW_PASSWORD)).statusCode, 200);
    // The verification link registration mailed was never used: void too.
    assert.equal((await post('/auth/verify', { token: user.verifyToken })).statusCode, 400);
  });

  it('two concurrent uses of one token: exactly one succeeds', async () => {
    const user = await register();
    const verifies = await Promise.all([1, 2].map(() => post('/auth/verify', { token: user.verifyToken })));
    assert.deepEqual(verifies.map((r) => r.statusCode).sort(), [200, 400]);

    assert.equal((await post('/auth/forgot-password', { email: user.email })).statusCode, 202);
    const token = linkToken(await mailTo(user.email, RESET_MAIL), '/reset-password');
    const passwords = [`First-${NEW_PASSWORD}`, `Second-${NEW_PASSWORD}`];
    const resets = await Promise.all(passwords.map((password) => post('/auth/reset-password', { token, password })));
    assert.deepEqual(resets.map((r) => r.statusCode).sort(), [204, 400]);
    const winner = passwords[resets.findIndex((r) => r.statusCode === 204)] as string;
    const loser = passwords.find((p) => p !== winner) as string;
    assert.equal((await login(user.email, winner)).statusCode, 200);
    assert.equal((await login(user.email, loser)).statusCode, 401);
  });

  it('answers an unknown address exactly as a known one, and mails nobody', async () => {
    const user = await register();
    const unknown = `nobody-${uid()}@example.com`;
    for (const path of ['/auth/forgot-password', '/auth/request-verify-token']) {
      const known = await post(path, { email: user.email });
      const other = await post(path, { email: unknown });
      assert.equal(other.statusCode, known.statusCode, path);
      assert.equal(known.statusCode, 202, path);
      assert.equal(other.body, known.body, path);
      assert.equal(other.headers['content-type'], known.headers['content-type'], path);
    }
    await mailTo(user.email, RESET_MAIL);
    await mailTo(user.email, VERIFY_MAIL);
    await barrier();
    assert.equal(smtp.mails.filter((m) => m.envelopeTo.includes(unknown)).length, 0);
  });

  it('refuses bad input with a 4xx and changes nothing', async () => {
    const user = await register();
    const cases: [string, object, number][] = [
      ['/auth/verify', {}, 422],
      ['/auth/verify', { token: '' }, 422],
      ['/auth/verify', { token: 12345 }, 422],
      ['/auth/verify', { token: 'x'.repeat(257) }, 422],
      ['/auth/verify', { token: 'short' }, 400],
      ['/auth/verify', { token: `${user.verifyToken.slice(0, 42)}!` }, 400],
      ['/auth/verify', { token: randomBytes(32).toString('base64url') }, 400],
      ['/auth/reset-password', { token: randomBytes(32).toString('base64url'), password: NEW_PASSWORD }, 400],
      ['/auth/reset-password', { token: user.verifyToken, password: NEW_PASSWORD }, 400],
      ['/auth/forgot-password', { email: 'not-an-email' }, 422],
      ['/auth/forgot-password', {}, 422],
      ['/auth/request-verify-token', { email: 42 }, 422],
    ];
    for (const [path, payload, status] of cases) {
      const res = await post(path, payload);
      assert.equal(res.statusCode, status, `${path} ${JSON.stringify(payload)}: ${res.body}`);
      assert.ok('detail' in res.json(), res.body);
    }
    const malformed = await send({
      method: 'POST',
      url: `${API}/auth/verify`,
      headers: { 'content-type': 'application/json' },
      payload: '{"token": ',
    });
    assert.equal(malformed.statusCode, 400, malformed.body);

    // A password the rules refuse is 422 on body.password, and leaves the token good for a better one.
    assert.equal((await post('/auth/forgot-password', { email: user.email })).statusCode, 202);
    const token = linkToken(await mailTo(user.email, RESET_MAIL), '/reset-password');
    for (const password of ['short', 'password123']) {
      const res = await post('/auth/reset-password', { token, password });
      assert.equal(res.statusCode, 422, res.body);
      assert.deepEqual(res.json().detail[0].loc, ['body', 'password']);
    }
    assert.equal((await login(user.email)).statusCode, 200, 'the password is unchanged');
    // Checked before the reset, which voids every token still out.
    assert.equal((await post('/auth/verify', { token: user.verifyToken })).statusCode, 200, 'still good');
    assert.equal((await post('/auth/reset-password', { token, password: NEW_PASSWORD })).statusCode, 204);
  });

  it(`limits each client IP to ${MAIL_REQUESTS_PER_MINUTE} requests a minute, and each address to ${TOKENS_PER_HOUR} mails an hour`, async () => {
    const remoteAddress = freshIp();
    const unknown = `nobody-${uid()}@example.com`;
    for (let i = 0; i < MAIL_REQUESTS_PER_MINUTE; i++) {
      const res = await post('/auth/forgot-password', { email: unknown }, { remoteAddress });
      assert.equal(res.statusCode, 202, `request ${i + 1}`);
    }
    const limited = await post('/auth/forgot-password', { email: unknown }, { remoteAddress });
    assert.equal(limited.statusCode, 429, limited.body);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal((await post('/auth/forgot-password', { email: unknown })).statusCode, 202, 'another IP is not');

    const user = await register();
    for (let i = 0; i < TOKENS_PER_HOUR + 2; i++) {
      assert.equal((await post('/auth/forgot-password', { email: user.email })).statusCode, 202);
    }
    await barrier();
    assert.equal((await tokensOf(user.id, 'reset')).length, TOKENS_PER_HOUR);
    const resets = smtp.mails.filter((m) => m.envelopeTo.includes(user.email) && RESET_MAIL.test(m.subject));
    assert.equal(resets.length, TOKENS_PER_HOUR);
  });

  it('with REQUIRE_VERIFIED_EMAIL an unverified user cannot log in until verified', async () => {
    const strict = await openTestApp(tdb, {
      defaultCredentials: false,
      access: { requireVerifiedEmail: true },
      mail: { smtpUrl: smtp.url, pollMs: 100 },
    });
    try {
      const email = `strict-${uid()}@example.com`;
      const created = await strict.app.inject({
        method: 'POST',
        url: `${API}/auth/register`,
        payload: { email, password: TEST_PASSWORD },
      });
      assert.equal(created.statusCode, 201, created.body);
      const refused = await strict.app.inject({
        method: 'POST',
        url: `${API}/auth/login`,
        payload: { username: email, password: TEST_PASSWORD },
      });
      assert.equal(refused.statusCode, 403, refused.body);
      assert.match(refused.json().detail, /verif/i);

      const token = linkToken(await mailTo(email, VERIFY_MAIL), '/verify-email');
      const verified = await strict.app.inject({ method: 'POST', url: `${API}/auth/verify`, payload: { token } });
      assert.equal(verified.statusCode, 200, verified.body);
      const allowed = await strict.app.inject({
        method: 'POST',
        url: `${API}/auth/login`,
        payload: { username: email, password: TEST_PASSWORD },
      });
      assert.equal(allowed.statusCode, 200, allowed.body);
    } finally {
      await strict.close();
    }
  });

  it("puts no token, nor its hash, in any log line (this suite's mails, every line logged so far)", () => {
    const tokens = smtp.mails.flatMap((mail) =>
      [/verify-email#token=/, /reset-password#token=/].some((link) => link.test(mail.text))
        ? [linkToken(mail, /verify-email#/.test(mail.text) ? '/verify-email' : '/reset-password')]
        : [],
    );
    assert.ok(tokens.length > 20, `${tokens.length} tokens`);
    assert.ok(logs.length > 100, `${logs.length} log lines`);
    const text = logs.join('');
    for (const token of tokens) {
      assert.ok(!text.includes(token), 'a token in the log');
      assert.ok(!text.includes(createHash('sha256').update(token).digest('hex')), 'a token hash in the log');
    }
  });
});

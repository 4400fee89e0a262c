/**
 * Sessions through the HTTP API (the access issue, "Tokens and sessions"): refresh rotation, reuse detection and
 * its grace window, parallel refreshes, idle and absolute expiry, logout in its three scopes, the sessions list,
 * and revocation taking effect on the very next request after a password change, deactivation, deletion or
 * demotion. Time is never waited for beyond a second: past timestamps are written into the database instead.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { decodeJwt } from 'jose';
import { buildApp } from '../src/app.js';
import { defaultAccess } from '../src/config.js';
import { refreshTokensTable } from '../src/sessions/refresh-token.table.js';
import { sessionsTable } from '../src/sessions/session.table.js';
import { sleep } from './support/processes.js';
import {
  emptyTables,
  openTestApp,
  type SignedIn,
  TEST_PASSWORD,
  TEST_TOKEN_SECRET,
  type TestApp,
} from './support/test-app.js';

const API = '/api/v1';
const HOUR_MS = 3_600_000;

interface Pair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const sidOf = (accessToken: string) => String(decodeJwt(accessToken).sid);
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

onEachDatabase('sessions API', (tdb) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(tdb, { defaultCredentials: false });
  });
  after(() => t.close());
  beforeEach(() => emptyTables(t.database));

  const sessionsRepo = () => t.database.repository(sessionsTable);
  const tokensRepo = () => t.database.repository(refreshTokensTable);

  const login = async (email: string, password = TEST_PASSWORD, userAgent = 'sessions-test') => {
    const res = await t.app.inject({
      method: 'POST',
      url: `${API}/auth/login`,
      headers: { 'user-agent': userAgent },
      payload: { username: email, password },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Pair;
  };
  const refresh = (refreshToken: string) =>
    t.app.inject({ method: 'POST', url: `${API}/auth/refresh`, payload: { refresh_token: refreshToken } });
  const me = async (accessToken: string) =>
    (await t.app.inject({ url: `${API}/auth/me`, headers: bearer(accessToken) })).statusCode;
  const logout = (accessToken: string, scope?: string) =>
    t.app.inject({
      method: 'POST',
      url: `${API}/auth/logout${scope ? `?scope=${scope}` : ''}`,
      headers: bearer(accessToken),
    });
  const assertRefused = (res: { statusCode: number; headers: Record<string, unknown> }, what: string) => {
    assert.equal(res.statusCode, 401, what);
    assert.equal(res.headers['www-authenticate'], 'Bearer', what);
  };

  describe('refresh rotation', () => {
    it('hands out a new working pair, no-store, and the used token returns the same successor within the grace window', async () => {
      const { user, refresh_token: first, access_token: firstAccess } = await t.signUp();
      const res = await refresh(first);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers.pragma, 'no-cache');
      const next = res.json() as Pair;
      assert.equal(next.token_type, 'bearer');
      assert.ok(next.expires_in > 0);
      assert.notEqual(next.refresh_token, first);
      assert.notEqual(next.access_token, firstAccess);
      assert.match(next.refresh_token, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url');
      assert.equal(sidOf(next.access_token), sidOf(firstAccess), 'the same session');
      assert.equal(decodeJwt(next.access_token).sub, user.id);
      assert.equal(await me(next.access_token), 200);

      // A client that lost the answer retries: the very same successor comes back, with a working access token.
      const retry = await refresh(first);
      assert.equal(retry.statusCode, 200, retry.body);
      assert.equal(retry.json().refresh_token, next.refresh_token);
      assert.equal(await me(retry.json().access_token), 200);

      // The successor rotates in its turn, and the chain goes on.
      const third = await refresh(next.refresh_token);
      assert.equal(third.statusCode, 200, third.body);
      assert.notEqual(third.json().refresh_token, next.refresh_token);
      assert.equal(await me(third.json().access_token), 200);
      assert.equal(await me(firstAccess), 200, 'rotation does not end the access tokens of a live session');
    });

    it('after the grace window, the used token is refused and ends the whole family (successor and access tokens too)', async () => {
      const signed = await t.signUp();
      const other = await login(signed.user.email);
      const next = (await refresh(signed.refresh_token)).json() as Pair;
      const sid = sidOf(signed.access_token);
      // The rotation happened a minute ago: past the default REFRESH_REUSE_GRACE_SECONDS (10).
      assert.equal(
        await tokensRepo().updateWhere({ session_id: sid, used_at: { isNull: false } }, { used_at: ago(60_000) }),
        1,
      );

      const reuse = await refresh(signed.refresh_token);
      assertRefused(reuse, 'reuse after the grace window');
      assert.match(reuse.json().detail, /reuse/i);
      assertRefused(await refresh(signed.refresh_token), 'the reused token again');
      assertRefused(await refresh(next.refresh_token), 'the successor of a revoked family');
      assert.equal(await me(next.access_token), 401, 'the access token of the successor');
      assert.equal(await me(signed.access_token), 401, 'the first access token of the session');
      const row = await sessionsRepo().get(sid);
      assert.equal(row?.revoked_reason, 'refresh_reuse');
      assert.ok(row?.revoked_at);

      // The user's other session is not part of that family.
      assert.equal(await me(other.access_token), 200);
      assert.equal((await refresh(other.refresh_token)).statusCode, 200);
    });

    it('really waits out a 1 s grace window: within it the same successor, after it the family ends', async () => {
      const short = await openTestApp(tdb, { defaultCredentials: false, access: { refreshReuseGraceSeconds: 1 } });
      try {
        const signed = await short.signUp();
        const post = (token: string) =>
          short.app.inject({ method: 'POST', url: `${API}/auth/refresh`, payload: { refresh_token: token } });
        const next = (await post(signed.refresh_token)).json() as Pair;
        const retry = await post(signed.refresh_token);
        assert.equal(retry.statusCode, 200, retry.body);
        assert.equal(retry.json().refresh_token, next.refresh_token);
        await sleep(1_300);
        assertRefused(await post(signed.refresh_token), 'reuse after 1.3 s');
        assertRefused(await post(next.refresh_token), 'the successor');
        const gone = await short.app.inject({ url: `${API}/auth/me`, headers: bearer(next.access_token) });
        assert.equal(gone.statusCode, 401);
      } finally {
        await short.close();
      }
    });

    it('answers 10 parallel refreshes with the same token all 200 with one successor (no 500, no duplicate)', async () => {
      const signed = await t.signUp();
      const sid = sidOf(signed.access_token);
      const answers = await Promise.all(Array.from({ length: 10 }, () => refresh(signed.refresh_token)));
      for (const res of answers) assert.equal(res.statusCode, 200, res.body);
      const successors = new Set(answers.map((res) => res.json().refresh_token as string));
      assert.equal(successors.size, 1, 'every answer carries the same refresh token');
      assert.equal(await tokensRepo().count({ session_id: sid }), 2, 'the first token and exactly one successor');
      assert.equal(await tokensRepo().count({ session_id: sid, used_at: { isNull: false } }), 1);
      const [successor] = successors;
      const next = await refresh(successor ?? '');
      assert.equal(next.statusCode, 200, next.body);
      for (const res of answers) assert.equal(await me(res.json().access_token), 200);
    });

    it('refuses unknown, malformed and missing refresh tokens with 401 or 422, never 500', async () => {
      assertRefused(await refresh('A'.repeat(43)), 'unknown token of the right shape');
      assertRefused(await refresh('not a token'), 'malformed');
      const missing = await t.app.inject({ method: 'POST', url: `${API}/auth/refresh`, payload: {} });
      assert.ok([400, 422].includes(missing.statusCode), missing.body);
    });
  });

  describe('expiry', () => {
    it('idle expiry: a refresh token past its expires_at is refused', async () => {
      const signed = await t.signUp();
      const sid = sidOf(signed.access_token);
      const row = await tokensRepo().list({ filters: { session_id: sid } });
      const expires = row.items[0]?.expires_at ?? '';
      // REFRESH_TOKEN_EXPIRE_DAYS (7) after issue, never past the session's end (SESSION_MAX_DAYS, 30).
      const days = (Date.parse(expires) - Date.now()) / 86_400_000;
      assert.ok(days > 6.9 && days <= 7, `idle expiry in ${days} days`);
      await tokensRepo().updateWhere({ session_id: sid }, { expires_at: ago(1_000) });
      assertRefused(await refresh(signed.refresh_token), 'idle-expired refresh token');
      // Idle expiry is the refresh token's; the session itself still holds until its access token expires.
      assert.equal(await me(signed.access_token), 200);
    });

    it('absolute expiry: a session past its expires_at refuses its refresh and access tokens and is not listed', async () => {
      const signed = await t.signUp();
      const other = await login(signed.user.email);
      const sid = sidOf(signed.access_token);
      const session = await sessionsRepo().get(sid);
      const days = (Date.parse(session?.expires_at ?? '') - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, `absolute expiry in ${days} days`);
      // Created 31 days ago, ended a day ago; its refresh token is still within its own idle window.
      await sessionsRepo().update(sid, { expires_at: ago(24 * HOUR_MS) });
      assertRefused(await refresh(signed.refresh_token), 'refresh of an ended session');
      assert.equal(await me(signed.access_token), 401, 'access token of an ended session');
      const list = await t.app.inject({ url: `${API}/auth/sessions`, headers: bearer(other.access_token) });
      assert.deepEqual(
        list.json().sessions.map((s: { id: string }) => s.id),
        [sidOf(other.access_token)],
      );
    });

    it('a refresh never extends a session past its absolute end', async () => {
      const signed = await t.signUp();
      const sid = sidOf(signed.access_token);
      const end = new Date(Date.now() + HOUR_MS).toISOString();
      await sessionsRepo().update(sid, { expires_at: end });
      const next = await refresh(signed.refresh_token);
      assert.equal(next.statusCode, 200, next.body);
      assert.equal(Date.parse((await sessionsRepo().get(sid))?.expires_at ?? ''), Date.parse(end));
      const tokens = await tokensRepo().list({ filters: { session_id: sid, used_at: null } });
      assert.ok(Date.parse(tokens.items[0]?.expires_at ?? '') <= Date.parse(end), 'successor ends with the session');
    });
  });

  describe('logout and the sessions list', () => {
    it('logout (current): that access token is refused on the very next request; other sessions stay', async () => {
      const signed = await t.signUp();
      const other = await login(signed.user.email);
      const res = await logout(signed.access_token);
      assert.equal(res.statusCode, 204, res.body);
      assertRefused(
        await t.app.inject({ url: `${API}/auth/me`, headers: signed.headers }),
        'the logged-out access token',
      );
      assertRefused(await refresh(signed.refresh_token), 'the logged-out refresh token');
      assert.equal((await logout(signed.access_token)).statusCode, 401, 'a second logout');
      assert.equal(await me(other.access_token), 200);
      assert.equal((await refresh(other.refresh_token)).statusCode, 200);
      assert.equal((await sessionsRepo().get(sidOf(signed.access_token)))?.revoked_reason, 'logout');
    });

    it('logout?scope=current is the default; an unknown scope is a 422', async () => {
      const signed = await t.signUp();
      const other = await login(signed.user.email);
      assert.equal((await logout(signed.access_token, 'nonsense')).statusCode, 422);
      assert.equal(await me(signed.access_token), 200);
      assert.equal((await logout(signed.access_token, 'current')).statusCode, 204);
      assert.equal(await me(signed.access_token), 401);
      assert.equal(await me(other.access_token), 200);
    });

    it('logout?scope=others ends every other session, this one stays; scope=all ends them all', async () => {
      const signed = await t.signUp();
      const second = await login(signed.user.email);
      const third = await login(signed.user.email);
      const stranger = await t.signUp();
      assert.equal((await logout(signed.access_token, 'others')).statusCode, 204);
      assert.equal(await me(signed.access_token), 200);
      assert.equal(await me(second.access_token), 401);
      assert.equal(await me(third.access_token), 401);
      assertRefused(await refresh(second.refresh_token), 'refresh of an ended session');
      assert.equal(await me(stranger.access_token), 200, "another user's session is untouched");

      const fourth = await login(signed.user.email);
      assert.equal((await logout(fourth.access_token, 'all')).statusCode, 204);
      assert.equal(await me(fourth.access_token), 401);
      assert.equal(await me(signed.access_token), 401);
      assertRefused(await refresh(signed.refresh_token), 'refresh after logout all');
      assert.equal(await me(stranger.access_token), 200);
    });

    it('lists own live sessions with id, times, ip, user agent and current, and never a token or a hash', async () => {
      const signed = await t.signUp();
      const second = await login(signed.user.email, TEST_PASSWORD, 'second-agent/1.0');
      await logout((await login(signed.user.email)).access_token);
      await t.signUp();
      const before = (await sessionsRepo().get(sidOf(second.access_token)))?.last_used_at ?? '';
      await sleep(5);
      const rotated = (await refresh(second.refresh_token)).json() as Pair;

      const res = await t.app.inject({ url: `${API}/auth/sessions`, headers: signed.headers });
      assert.equal(res.statusCode, 200, res.body);
      const sessions = res.json().sessions as Record<string, unknown>[];
      assert.deepEqual(
        sessions.map((s) => s.id),
        [sidOf(second.access_token), sidOf(signed.access_token)],
        'own live sessions only, newest first',
      );
      for (const s of sessions) {
        for (const key of ['id', 'created_at', 'last_used_at', 'ip', 'user_agent', 'current']) {
          assert.ok(key in s, `${key} in ${JSON.stringify(s)}`);
        }
        for (const key of Object.keys(s)) assert.doesNotMatch(key, /token|hash|secret/i);
      }
      assert.deepEqual(
        sessions.map((s) => s.current),
        [false, true],
      );
      assert.equal(sessions[0]?.user_agent, 'second-agent/1.0');
      assert.equal(sessions[0]?.ip, '127.0.0.1');
      assert.ok(Date.parse(String(sessions[0]?.last_used_at)) > Date.parse(before), 'a refresh moves last_used_at');
      for (const secret of [
        signed.access_token,
        signed.refresh_token,
        second.refresh_token,
        rotated.refresh_token,
        createHash('sha256').update(second.refresh_token).digest('hex'),
        createHash('sha256').update(rotated.refresh_token).digest('hex'),
      ]) {
        assert.ok(!res.body.includes(secret), 'no token and no token hash in the list');
      }
      const fromSecond = await t.app.inject({ url: `${API}/auth/sessions`, headers: bearer(rotated.access_token) });
      assert.deepEqual(
        fromSecond.json().sessions.map((s: { current: boolean }) => s.current),
        [true, false],
      );
    });

    it("DELETE /auth/sessions/:id ends one's own session; another user's, an unknown or an ended one is a 404", async () => {
      const signed = await t.signUp();
      const second = await login(signed.user.email);
      const stranger = await t.signUp();
      const del = (token: string, id: string) =>
        t.app.inject({ method: 'DELETE', url: `${API}/auth/sessions/${id}`, headers: bearer(token) });

      const foreign = await del(signed.access_token, sidOf(stranger.access_token));
      assert.equal(foreign.statusCode, 404, foreign.body);
      assert.equal(await me(stranger.access_token), 200, "the other user's session is untouched");
      assert.equal((await del(signed.access_token, '0190a000-0000-7000-8000-000000000000')).statusCode, 404);
      assert.equal((await del(signed.access_token, 'not-a-uuid')).statusCode, 422);

      assert.equal((await del(signed.access_token, sidOf(second.access_token))).statusCode, 204);
      assert.equal(await me(second.access_token), 401, 'the ended session, on the very next request');
      assertRefused(await refresh(second.refresh_token), 'its refresh token');
      assert.equal(await me(signed.access_token), 200);
      assert.equal((await del(signed.access_token, sidOf(second.access_token))).statusCode, 404, 'already ended');
    });
  });

  describe('revocation by account changes', () => {
    const changePassword = (s: SignedIn | Pair, current: string, next: string) =>
      t.app.inject({
        method: 'POST',
        url: `${API}/auth/password`,
        headers: bearer(s.access_token),
        payload: { current_password: current, new_password: next },
      });

    it('a password change ends the other sessions at once; the current one keeps working', async () => {
      const signed = await t.signUp();
      const other = await login(signed.user.email);
      const stranger = await t.signUp();
      const res = await changePassword(signed, TEST_PASSWORD, 'Quartz-Meadow-Falcon-71');
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(await me(other.access_token), 401);
      assertRefused(await refresh(other.refresh_token), "the other session's refresh token");
      assert.equal(await me(signed.access_token), 200);
      const next = await refresh(signed.refresh_token);
      assert.equal(next.statusCode, 200, next.body);
      assert.equal(await me(next.json().access_token), 200);
      assert.equal(await me(stranger.access_token), 200);
      await login(signed.user.email, 'Quartz-Meadow-Falcon-71');
    });

    it("a superuser's PATCH of a user's password ends every session of that user", async () => {
      const admin = await t.signUp({ superuser: true });
      const user = await t.signUp();
      const second = await login(user.user.email);
      const res = await t.app.inject({
        method: 'PATCH',
        url: `${API}/users/${user.user.id}`,
        headers: admin.headers,
        payload: { password: 'Copper-Harbor-Tundra-58' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await me(user.access_token), 401);
      assert.equal(await me(second.access_token), 401);
      assertRefused(await refresh(user.refresh_token), 'refresh after an admin password reset');
      assert.equal(await me(admin.access_token), 200);
    });

    it('deactivation refuses the access token at once and the refresh token too, even after reactivation', async () => {
      const admin = await t.signUp({ superuser: true });
      const user = await t.signUp();
      const res = await t.app.inject({
        method: 'POST',
        url: `${API}/users/${user.user.id}/deactivate`,
        headers: admin.headers,
      });
      assert.equal(res.statusCode, 200, res.body);
      assertRefused(await t.app.inject({ url: `${API}/users/me`, headers: user.headers }), 'deactivated');
      assertRefused(await refresh(user.refresh_token), 'refresh of a deactivated user');
      const again = await t.app.inject({
        method: 'POST',
        url: `${API}/users/${user.user.id}/activate`,
        headers: admin.headers,
      });
      assert.equal(again.statusCode, 200, again.body);
      assert.equal(await me(user.access_token), 401, 'the sessions ended with the deactivation');
      assertRefused(await refresh(user.refresh_token), 'refresh after reactivation');
      await login(user.user.email);
    });

    it('deletion (by a superuser, or of oneself) refuses the access token at once', async () => {
      const admin = await t.signUp({ superuser: true });
      const user = await t.signUp();
      const del = await t.app.inject({ method: 'DELETE', url: `${API}/users/${user.user.id}`, headers: admin.headers });
      assert.equal(del.statusCode, 204, del.body);
      assertRefused(await t.app.inject({ url: `${API}/auth/me`, headers: user.headers }), 'deleted user');
      assertRefused(await refresh(user.refresh_token), 'refresh of a deleted user');

      const self = await t.signUp();
      const selfOther = await login(self.user.email);
      const gone = await t.app.inject({
        method: 'DELETE',
        url: `${API}/users/me`,
        headers: self.headers,
        payload: { password: TEST_PASSWORD },
      });
      assert.equal(gone.statusCode, 204, gone.body);
      assert.equal(await me(self.access_token), 401);
      assert.equal(await me(selfOther.access_token), 401);
      assertRefused(await refresh(selfOther.refresh_token), 'refresh after deleting oneself');
    });

    it("demotion: the demoted user's superuser-only requests are 403 at once; their session stays", async () => {
      const admin = await t.signUp({ superuser: true });
      const demoted = await t.signUp({ superuser: true });
      const list = (s: SignedIn) => t.app.inject({ url: `${API}/users`, headers: s.headers });
      assert.equal((await list(demoted)).statusCode, 200);
      const res = await t.app.inject({
        method: 'PATCH',
        url: `${API}/users/${demoted.user.id}`,
        headers: admin.headers,
        payload: { is_superuser: false },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await list(demoted)).statusCode, 403);
      const create = await t.app.inject({
        method: 'POST',
        url: `${API}/users`,
        headers: demoted.headers,
        payload: { email: 'made-by-demoted@example.com', password: TEST_PASSWORD },
      });
      assert.equal(create.statusCode, 403);
      const foreign = await t.app.inject({ url: `${API}/users/${admin.user.id}`, headers: demoted.headers });
      assert.equal(foreign.statusCode, 404, 'another user is hidden from an ordinary user');
      assert.equal(await me(demoted.access_token), 200);
      assert.equal((await list(admin)).statusCode, 200);
    });
  });

  it("lets a superuser list a user's sessions and end them all", async () => {
    const admin = await t.signUp({ superuser: true });
    const user = await t.signUp();
    const second = await t.app.inject({
      method: 'POST',
      url: `${API}/auth/login`,
      payload: { username: user.user.email, password: TEST_PASSWORD },
    });
    assert.equal(second.statusCode, 200);
    const listed = await t.app.inject({ url: `${API}/users/${user.user.id}/sessions`, headers: admin.headers });
    assert.equal(listed.statusCode, 200, listed.body);
    const sessions = listed.json().sessions as { id: string; current: boolean }[];
    assert.deepEqual(
      sessions.map((s) => s.id).sort(),
      [sidOf(user.access_token), sidOf(second.json().access_token)].sort(),
    );
    assert.ok(
      sessions.every((s) => !s.current),
      "none of them is the admin's",
    );
    assert.doesNotMatch(listed.body, new RegExp(`${user.refresh_token}|${user.access_token}|token_hash`));
    const ended = await t.app.inject({
      method: 'DELETE',
      url: `${API}/users/${user.user.id}/sessions`,
      headers: admin.headers,
    });
    assert.equal(ended.statusCode, 204);
    for (const token of [user.access_token, second.json().access_token]) {
      assert.equal((await t.app.inject({ url: `${API}/users/me`, headers: bearer(token) })).statusCode, 401);
    }
    const refresh = await t.app.inject({
      method: 'POST',
      url: `${API}/auth/refresh`,
      payload: { refresh_token: user.refresh_token },
    });
    assert.equal(refresh.statusCode, 401, 'refresh tokens end with their sessions');
    assert.equal((await t.app.inject({ url: `${API}/users/me`, headers: admin.headers })).statusCode, 200);
    const missing = `${API}/users/01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a/sessions`;
    assert.equal((await t.app.inject({ url: missing, headers: admin.headers })).statusCode, 404);
    assert.equal((await t.app.inject({ method: 'DELETE', url: missing, headers: admin.headers })).statusCode, 404);
  });

  it("lets a superuser end one session of a user: that one stops, the user's others and anyone else's stay", async () => {
    const admin = await t.signUp({ superuser: true });
    const user = await t.signUp();
    const second = await login(user.user.email, TEST_PASSWORD, 'second-device');
    const stranger = await t.signUp();
    const del = (headers: Record<string, string>, userId: string, sessionId: string) =>
      t.app.inject({ method: 'DELETE', url: `${API}/users/${userId}/sessions/${sessionId}`, headers });

    // Another user's session named under this user's id: 404, and it keeps working.
    const foreign = await del(admin.headers, user.user.id, sidOf(stranger.access_token));
    assert.equal(foreign.statusCode, 404, foreign.body);
    assert.deepEqual(foreign.json(), { detail: 'Session not found' });
    assert.equal(await me(stranger.access_token), 200, "the stranger's session is untouched");
    // Not superusers: the user themself, and another user, are refused; nothing ends.
    for (const caller of [user, stranger]) {
      const refused = await del(caller.headers, user.user.id, sidOf(second.access_token));
      assert.equal(refused.statusCode, 403, refused.body);
    }
    assert.equal(await me(second.access_token), 200, 'a refused request ends nothing');
    assert.equal((await del(admin.headers, user.user.id, '0190a000-0000-7000-8000-000000000000')).statusCode, 404);
    const noUser = await del(admin.headers, '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a', sidOf(second.access_token));
    assert.equal(noUser.statusCode, 404);
    assert.deepEqual(noUser.json(), { detail: 'User not found' });
    const malformed = await del(admin.headers, user.user.id, 'not-a-uuid');
    assert.equal(malformed.statusCode, 422);
    assert.deepEqual(malformed.json().detail[0].loc, ['path', 'session_id']);

    const ended = await del(admin.headers, user.user.id, sidOf(second.access_token));
    assert.equal(ended.statusCode, 204, ended.body);
    assert.equal(ended.body, '');
    assert.equal(await me(second.access_token), 401, 'the ended session, on the very next request');
    assertRefused(await refresh(second.refresh_token), 'its refresh token');
    assert.equal(await me(user.access_token), 200, "the user's other session stays");
    const renewed = await refresh(user.refresh_token);
    assert.equal(renewed.statusCode, 200, "and so does the other session's refresh token");
    assert.equal(await me(stranger.access_token), 200);
    assert.equal((await refresh(stranger.refresh_token)).statusCode, 200, "the stranger's refresh token works");
    assert.equal((await del(admin.headers, user.user.id, sidOf(second.access_token))).statusCode, 404, 'ended');

    // Recorded as the user's own revocation is: session.revoked about the user, by the superuser, naming it.
    const audit = await t.app.inject({
      url: `${API}/audit-events?user_id=${user.user.id}&event=session.revoked`,
      headers: admin.headers,
    });
    assert.equal(audit.statusCode, 200, audit.body);
    const events = audit.json().audit_events as {
      actor_user_id: string | null;
      target_user_id: string;
      detail: Record<string, unknown>;
    }[];
    assert.deepEqual(
      events.map((e) => [e.actor_user_id, e.target_user_id, e.detail]),
      [[admin.user.id, user.user.id, { reason: 'revoked', session_id: sidOf(second.access_token) }]],
    );
    assert.doesNotMatch(audit.body, new RegExp(`${second.refresh_token}|${second.access_token}|token_hash`));
  });

  it('writes no token into any log line, even at trace level, and answers token pairs with no-store', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = await buildApp({
      database: t.database,
      migrator: t.migrator,
      hasher: t.hasher,
      tokenSecret: TEST_TOKEN_SECRET,
      access: { ...defaultAccess(), authRateLimitPerMinute: 1_000_000 },
      logger: { level: 'trace', stream },
    });
    try {
      const user = await t.signUp();
      const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
        app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers });
      const loggedIn = await post(`${API}/auth/login`, { username: user.user.email, password: TEST_PASSWORD });
      assert.equal(loggedIn.statusCode, 200, loggedIn.body);
      assert.equal(loggedIn.headers['cache-control'], 'no-store');
      const pair = loggedIn.json() as Pair;
      const rotated = await post(`${API}/auth/refresh`, { refresh_token: pair.refresh_token });
      assert.equal(rotated.statusCode, 200);
      assert.equal(rotated.headers['cache-control'], 'no-store');
      const next = rotated.json() as Pair;
      await post(`${API}/auth/refresh`, { refresh_token: pair.refresh_token });
      // Reuse after the grace window (401 and the session ends), a malformed token (422), a token in the URL.
      await tokensRepo().updateWhere(
        { session_id: sidOf(pair.access_token), used_at: { isNull: false } },
        { used_at: ago(60_000) },
      );
      assert.equal((await post(`${API}/auth/refresh`, { refresh_token: pair.refresh_token })).statusCode, 401);
      await post(`${API}/auth/refresh`, { refresh_token: `${next.refresh_token}!` });
      await post(`${API}/auth/refresh`, { refresh_token: 42, extra: next.refresh_token });
      await app.inject({ url: `${API}/auth/me`, headers: bearer(next.access_token) });
      await app.inject({ url: `${API}/auth/me`, headers: bearer(`${next.refresh_token}`) });
      await post(`${API}/auth/logout`, {}, bearer(pair.access_token));
      assert.ok(lines.length > 5, `the logger was used (${lines.length} lines)`);
      for (const secret of [pair.refresh_token, next.refresh_token, pair.access_token, next.access_token]) {
        const leaked = lines.filter((line) => line.includes(secret));
        assert.deepEqual(leaked, [], 'a token in a log line');
      }
      assert.ok(!lines.some((line) => line.includes(TEST_PASSWORD)), 'a password in a log line');
    } finally {
      await app.close();
    }
  });
});

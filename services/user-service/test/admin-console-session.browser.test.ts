/**
 * The admin console's session and navigation edge cases in Chromium (the flows are admin-console.browser.test.ts;
 * these were found by review): a copy of a signed-in tab steps aside instead of exchanging the same refresh
 * token twice (which the server treats as theft: session ended, refresh_token.reused audited); moving from one
 * user's page to another's never shows the first user under the second's URL; taking away one's own superuser
 * role asks first and then signs out; the skip link moves the focus to the content; each page has a title; and
 * the two public pages the mails link to, with the links a real SMTP server on loopback received.
 * The real service (scripts/start.mjs, one worker) on a fresh SQLite file, with REFRESH_REUSE_GRACE_SECONDS=0 so
 * that a second exchange of a refresh token is refused at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, eventually, launchChromium, type Watched, watchedPage } from './support/browser.js';
import { type Running, SERVICE_DIR, startService } from './support/processes.js';
import { startTestSmtp, type TestSmtp } from './support/smtp.js';

const ADMIN = { email: 'session-admin@example.com', password: 'Granite-Compass-Willow-83' };
const PASSWORD = 'Saffron-Glacier-Ember-47';
const missing = chromiumMissing();
const ci = process.env.CI === 'true';

describe('admin console sessions in Chromium', { skip: !ci && missing ? missing : false, concurrency: 1 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-admin-session-'));
  let running: Running | undefined;
  let browser: Browser | undefined;
  let smtp: TestSmtp | undefined;
  let adminToken = '';

  const base = () => {
    assert.ok(running, 'the service runs');
    return running.base;
  };

  async function api(path: string, options: { method?: string; token?: string; body?: unknown } = {}) {
    const res = await fetch(`${base()}/api/v1${path}`, {
      method: options.method ?? 'GET',
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async function createUser(email: string, superuser = false): Promise<string> {
    const created = await api('/users', { method: 'POST', token: adminToken, body: { email, password: PASSWORD } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    if (superuser) {
      const promoted = await api(`/users/${created.body.id}`, {
        method: 'PATCH',
        token: adminToken,
        body: { is_superuser: true },
      });
      assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    }
    return created.body.id;
  }

  before(async () => {
    if (missing) throw new Error(missing);
    // A real SMTP server on loopback: the mail pages are tested with the links the service really mails.
    smtp = await startTestSmtp();
    running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      timeoutMs: 60_000,
      env: {
        WORKERS: '1',
        DATABASE_URL: `sqlite:///${join(dir, 'app.db')}`,
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        REFRESH_REUSE_GRACE_SECONDS: '0',
        SMTP_URL: smtp.url,
        AUTH_RATE_LIMIT_PER_MINUTE: '100000',
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      },
    });
    const login = await api('/auth/login', {
      method: 'POST',
      body: { username: ADMIN.email, password: ADMIN.password },
    });
    assert.equal(login.status, 200);
    adminToken = login.body.access_token;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await smtp?.close();
    if (running) {
      running.child.kill('SIGTERM');
      await Promise.race([running.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function flow(run: (watched: Watched) => Promise<void>): Promise<void> {
    assert.ok(browser, 'Chromium runs');
    const watched = await watchedPage(browser);
    try {
      await run(watched);
      watched.problems.assertNone();
    } finally {
      await watched.context.close();
    }
  }

  async function signIn(page: Page, who: { email: string; password: string }): Promise<void> {
    await page.goto(`${base()}/admin`);
    await page.getByLabel('Email or username').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  const heading = (page: Page) => page.getByRole('heading', { level: 1 });

  it('a copy of a signed-in tab signs in afresh; the first tab keeps its session, no reuse is audited', async () => {
    await flow(async ({ page }) => {
      await signIn(page, ADMIN);
      const [copy] = await Promise.all([
        page.waitForEvent('popup'),
        page.evaluate(() => (globalThis as any).open('/admin/audit')),
      ]);
      await copy.getByRole('alert').filter({ hasText: 'This tab is a copy of a signed-in tab' }).waitFor();
      assert.equal(await copy.getByRole('button', { name: 'Sign out' }).count(), 0);
      // The first tab still refreshes with its own token: a reload resumes the session.
      await page.reload();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await heading(page).filter({ hasText: 'Users' }).waitFor();
      const events = await api('/audit-events?event=refresh_token.reused', { token: adminToken });
      assert.equal(events.status, 200, JSON.stringify(events.body));
      assert.deepEqual(events.body.audit_events, []);
    });
  });

  it("moving from one user's page to another's shows the second user, never the first under its URL", async () => {
    const first = await createUser('first.user@example.com');
    const second = await createUser('second.user@example.com');
    await flow(async ({ page }) => {
      await signIn(page, ADMIN);
      await page.goto(`${base()}/admin/users/${first}`);
      await heading(page).filter({ hasText: 'first.user@example.com' }).waitFor();
      // In-app navigation (as a link in the audit section or the back button does): no new document.
      await page.evaluate((id) => {
        const web = globalThis as any;
        web.history.pushState(null, '', `/admin/users/${id}`);
        web.dispatchEvent(new web.PopStateEvent('popstate'));
      }, second);
      await eventually(async () =>
        assert.equal((await heading(page).textContent())?.trim(), 'second.user@example.com'),
      );
      assert.equal(await page.getByText(second, { exact: true }).count(), 1, "the second user's id is shown");
      assert.equal(await page.getByText(first, { exact: true }).count(), 0, "the first user's id is not");
      await page.goBack();
      await eventually(async () => assert.equal((await heading(page).textContent())?.trim(), 'first.user@example.com'));
    });
  });

  it('revoking one’s own superuser role asks first, then signs out with the reason', async () => {
    const email = 'second.admin@example.com';
    const id = await createUser(email, true);
    await flow(async ({ page }) => {
      await signIn(page, { email, password: PASSWORD });
      await page.goto(`${base()}/admin/users/${id}`);
      await heading(page).filter({ hasText: email }).waitFor();
      await page.getByRole('button', { name: 'Revoke superuser' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.filter({ hasText: 'This is your own account' }).waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      assert.equal(
        (await api(`/users/${id}`, { token: adminToken })).body.is_superuser,
        true,
        'Cancel changed nothing',
      );

      await page.getByRole('button', { name: 'Revoke superuser' }).click();
      await dialog.getByRole('button', { name: 'Revoke my superuser role' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'You no longer have access to the admin console' }).waitFor();
      assert.equal((await api(`/users/${id}`, { token: adminToken })).body.is_superuser, false);
      assert.deepEqual(await page.evaluate(() => Object.keys((globalThis as any).sessionStorage)), []);
    });
  });

  /** The path and fragment of the link in the next mail to `to` that leads to `page` (the host is PUBLIC_URL's). */
  async function mailedLink(to: string, page: '/verify-email' | '/reset-password'): Promise<string> {
    assert.ok(smtp, 'the SMTP server runs');
    const mail = await smtp.next((m) => m.envelopeTo.includes(to) && m.text.includes(`${page}#token=`), 20_000);
    const link = new RegExp(`${page}#token=[^\\s"<>]+`).exec(mail.text)?.[0];
    assert.ok(link, mail.text);
    return link;
  }

  it('the mail links: verifies an address, and sets a new password after refusing a mismatch and a short one', async () => {
    const email = 'mail.pages@example.com';
    const id = await createUser(email);
    await flow(async ({ page, problems }) => {
      // The service mails a verification link on creation (a second request would void that token).
      await page.goto(`${base()}${await mailedLink(email, '/verify-email')}`);
      await page.getByText('Your email address is verified.').waitFor();
      assert.doesNotMatch(page.url(), /token/, 'the token is gone from the address bar');
      assert.equal((await api(`/users/${id}`, { token: adminToken })).body.is_verified, true);

      assert.equal((await api('/auth/forgot-password', { method: 'POST', body: { email } })).status, 202);
      await page.goto(`${base()}${await mailedLink(email, '/reset-password')}`);
      await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
      assert.doesNotMatch(page.url(), /token/, 'the token is gone from the address bar');
      const newPassword = page.getByLabel('New password', { exact: true });
      const repeat = page.getByLabel('Repeat the new password', { exact: true });
      await newPassword.fill('Cobalt-Meadow-Lantern-58');
      await repeat.fill('Cobalt-Meadow-Lantern-59');
      await page.getByRole('button', { name: 'Set password' }).click();
      await eventually(async () => assert.equal(await repeat.getAttribute('aria-invalid'), 'true'));
      // Too short: the API's 422, shown next to "New password".
      problems.expect(/status of 422 .*\/api\/v1\/auth\/reset-password$/);
      await newPassword.fill('short');
      await repeat.fill('short');
      await page.getByRole('button', { name: 'Set password' }).click();
      await eventually(async () => assert.equal(await newPassword.getAttribute('aria-invalid'), 'true'));
      assert.match((await page.locator('#password-error').textContent()) ?? '', /\S/);
      await newPassword.fill('Cobalt-Meadow-Lantern-58');
      await repeat.fill('Cobalt-Meadow-Lantern-58');
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.getByText('Your password is changed. You can sign in now.').waitFor();
      const login = await api('/auth/login', {
        method: 'POST',
        body: { username: email, password: 'Cobalt-Meadow-Lantern-58' },
      });
      assert.equal(login.status, 200, 'the new password signs in');
      const old = await api('/auth/login', { method: 'POST', body: { username: email, password: PASSWORD } });
      assert.equal(old.status, 401, 'the old one no longer does');
    });
  });

  it('the skip link moves the focus to the content; each page has its own title', async () => {
    await flow(async ({ page }) => {
      await page.goto(`${base()}/admin`);
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      assert.equal(await page.title(), 'Sign in · user-service admin');
      await signIn(page, ADMIN);
      await eventually(async () => assert.equal(await page.title(), 'Users · user-service admin'));
      await page.getByRole('link', { name: 'Skip to content' }).focus();
      await page.keyboard.press('Enter');
      await eventually(async () =>
        assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.id), 'main'),
      );
      await page.getByRole('link', { name: 'API keys', exact: true }).click();
      await eventually(async () => assert.equal(await page.title(), 'API keys · user-service admin'));
    });
  });
});

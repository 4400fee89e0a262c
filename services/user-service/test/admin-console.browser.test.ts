/**
 * The admin console (issue 14) in a real browser: Debian's Chromium through playwright-core, against the real
 * service started as `npm start` starts it (scripts/start.mjs, one worker) on a fresh SQLite file holding 10k
 * seeded users, with the first superuser from FIRST_SUPERUSER_* and a few users made through the API with known
 * names. Each flow is a test with its own browser context (no session carried over) and ends by asserting that
 * the page logged no console error, threw nothing and violated no CSP directive. Elements are found by role and
 * accessible name, the names of the UI contract. What a flow changes is checked through the API as well.
 *
 * The same run writes the README's screenshots (docs/admin-users-*.png, docs/admin-user-*.png).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, eventually, launchChromium, type Watched, watchedPage } from './support/browser.js';
import { cli } from './support/cli.js';
import { REPO_DIR, type Running, SERVICE_DIR, startService } from './support/processes.js';

const SEEDED = 10_000;
const ADMIN = { email: 'console-admin@example.com', password: 'Granite-Compass-Willow-83' };
const PASSWORD = 'Saffron-Glacier-Ember-47';
/** Users made through the API, one per flow that changes a user, so flows do not depend on each other's order. */
const PEOPLE = {
  edited: { email: 'quentin.oyelaran@example.com', username: 'qoyelaran', full_name: 'Quentin Oyelaran' },
  sessions: { email: 'sessions.person@example.com', username: 'sessions_person', full_name: 'Saskia Sessionsky' },
  deactivated: { email: 'deactivate.me@example.com', username: 'deactivate_me', full_name: 'Dagmar Deactivova' },
  deleted: { email: 'delete.me@example.com', username: 'delete_me', full_name: 'Dorian Deletewood' },
  ordinary: { email: 'ordinary.person@example.com', username: 'ordinary_person', full_name: 'Olive Ordinary' },
} as const;
type Person = keyof typeof PEOPLE;

const missing = chromiumMissing();
const ci = process.env.CI === 'true';

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

describe('admin console in Chromium', { skip: !ci && missing ? missing : false, concurrency: 1 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-admin-browser-'));
  const ids = {} as Record<Person, string>;
  let running: Running | undefined;
  let browser: Browser | undefined;
  let adminToken = '';

  const base = () => {
    assert.ok(running, 'the service runs');
    return running.base;
  };

  async function api(
    path: string,
    options: { method?: string; token?: string; apiKey?: string; body?: unknown; userAgent?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.apiKey) headers['x-api-key'] = options.apiKey;
    if (options.userAgent) headers['user-agent'] = options.userAgent;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base()}/api/v1${path}`, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  async function login(username: string, password: string, userAgent?: string) {
    const res = await api('/auth/login', {
      method: 'POST',
      body: { username, password },
      ...(userAgent ? { userAgent } : {}),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { access_token: string; refresh_token: string };
  }

  before(async () => {
    if (missing) throw new Error(missing);
    const url = `sqlite:///${join(dir, 'app.db')}`;
    // The seed migrates the fresh file itself (MIGRATE_ON_START defaults to true on SQLite).
    const seeded = await cli({ kind: 'sqlite', url }, ['seed', '--users', String(SEEDED)]);
    assert.equal(seeded.code, 0, seeded.stderr);
    running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      timeoutMs: 60_000,
      env: {
        WORKERS: '1',
        DATABASE_URL: url,
        FIRST_SUPERUSER_EMAIL: ADMIN.email,
        FIRST_SUPERUSER_PASSWORD: ADMIN.password,
        // Every flow signs in through the page; the default 60 a minute per IP would refuse the later ones.
        AUTH_RATE_LIMIT_PER_MINUTE: '100000',
        // The 2-core machine runs Chromium beside the service: the event-loop guard's 503 would show the
        // connection banner in flows that do not expect it. The banner has a flow of its own.
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      },
    });
    adminToken = (await login(ADMIN.email, ADMIN.password)).access_token;
    for (const [key, person] of Object.entries(PEOPLE) as [Person, (typeof PEOPLE)[Person]][]) {
      const created = await api('/users', {
        method: 'POST',
        token: adminToken,
        body: { ...person, password: PASSWORD },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids[key] = created.body.id;
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (running) {
      running.child.kill('SIGTERM');
      await Promise.race([running.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs one flow in a fresh context (viewport 1440x900 unless given) and fails it when the page reported a
   * console error, an uncaught exception or a CSP violation, whatever the flow itself asserted.
   */
  async function flow(
    run: (watched: Watched) => Promise<void>,
    viewport: { width: number; height: number } = { width: 1440, height: 900 },
  ): Promise<void> {
    assert.ok(browser, 'Chromium runs');
    const watched = await watchedPage(browser, { viewport });
    try {
      await run(watched);
      watched.problems.assertNone();
    } finally {
      await watched.context.close();
    }
  }

  async function signIn(page: Page, path = '/admin', who = ADMIN): Promise<void> {
    await page.goto(`${base()}${path}`);
    await page.getByLabel('Email or username').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (who === ADMIN) await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  const usersTable = (page: Page) => page.getByRole('table', { name: 'Users' });
  const heading = (page: Page, name: string) => page.getByRole('heading', { level: 1, name, exact: true });

  /** The users page once its list has come (the total line is there and the table has rows). */
  async function usersSettled(page: Page): Promise<void> {
    await heading(page, 'Users').waitFor();
    await page
      .getByRole('status')
      .filter({ hasText: /users?\b|No users match/ })
      .first()
      .waitFor();
    await page.waitForLoadState('networkidle');
  }

  async function openUser(page: Page, person: Person): Promise<void> {
    await page.goto(`${base()}/admin/users/${ids[person]}`);
    await heading(page, PEOPLE[person].email).waitFor();
    await page.waitForLoadState('networkidle');
  }

  it('signs in as the superuser: a wrong password is refused, then the users page; tokens stay in the tab', async () => {
    await flow(async ({ page, problems }) => {
      problems.expect(/status of 401 .*\/api\/v1\/auth\/login$/);
      await page.goto(`${base()}/admin`);
      await page.getByLabel('Email or username').fill(ADMIN.email);
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal((await alert.textContent())?.trim(), 'Wrong email, username or password.');

      await page.getByLabel('Password').fill(ADMIN.password);
      const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login') && r.status() === 200);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const tokens = (await (await answered).json()) as { access_token: string; refresh_token: string };
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      for (const name of ['Users', 'API keys', 'Audit log']) {
        assert.equal(await page.getByRole('link', { name, exact: true }).count(), 1, `nav link ${name}`);
      }
      await usersSettled(page);
      // The access token lives in memory only; the refresh token in this tab's sessionStorage; no cookie.
      const storage = await page.evaluate(() => {
        const web = globalThis as any;
        return {
          local: Object.entries(web.localStorage) as [string, string][],
          session: Object.entries(web.sessionStorage) as [string, string][],
          cookies: web.document.cookie as string,
        };
      });
      assert.deepEqual(storage.local, []);
      assert.equal(storage.cookies, '');
      assert.equal(new Map(storage.session).get('user-service.admin.refresh'), tokens.refresh_token);
      assert.ok(!JSON.stringify(storage).includes(tokens.access_token), 'the access token is in web storage');
    });
  });

  it('a non-superuser is refused at sign-in and keeps no usable session', async () => {
    await flow(async ({ page }) => {
      await signIn(page, '/admin', { email: PEOPLE.ordinary.email, password: PASSWORD });
      const alert = page.getByRole('alert').filter({ hasText: 'is not a superuser' });
      await alert.waitFor();
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
      assert.deepEqual(await page.evaluate(() => Object.keys((globalThis as any).sessionStorage)), []);
      // The session the login made was ended on the server too: the user has no live session left.
      await eventually(async () => {
        const sessions = await api(`/users/${ids.ordinary}/sessions`, { token: adminToken });
        assert.equal(sessions.status, 200);
        assert.deepEqual(sessions.body.sessions, []);
      });
      // And a reload does not bring a session back.
      await page.reload();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
    });
  });

  it('signs in with the keyboard only (Tab to the fields, type, Enter)', async () => {
    await flow(async ({ page }) => {
      await page.goto(`${base()}/admin`);
      const username = page.getByLabel('Email or username');
      const password = page.getByLabel('Password');
      await username.waitFor();
      const focused = (locator: typeof username) =>
        locator.evaluate((el) => el === (globalThis as any).document.activeElement);
      await page.keyboard.press('Tab');
      assert.ok(await focused(username), 'the first Tab reaches "Email or username"');
      await page.keyboard.type(ADMIN.email);
      await page.keyboard.press('Tab');
      assert.ok(await focused(password), 'the next Tab reaches "Password"');
      await page.keyboard.type(ADMIN.password);
      await page.keyboard.press('Enter');
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await usersSettled(page);
    });
  });

  it('serves /admin with its CSP and no-cache, and the assets as immutable', async () => {
    const res = await fetch(`${base()}/admin`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /(^|; )script-src 'self'(;|$)/, csp);
    assert.match(csp, /require-trusted-types-for 'script'/, csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, csp);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/admin\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), html);
    for (const asset of assets) {
      const answer = await fetch(`${base()}${asset}`);
      assert.equal(answer.status, 200, asset);
      assert.match(answer.headers.get('cache-control') ?? '', /immutable/, asset);
      assert.match(answer.headers.get('cache-control') ?? '', /max-age=31536000/, asset);
    }
  });

  it('searches the 10k users as you type and opens the one found', async () => {
    await flow(async ({ page }) => {
      await signIn(page);
      await usersSettled(page);
      const total = page.getByRole('status').filter({ hasText: /users$/ });
      // 10k seeded + the superuser + the API's users: the exact count, or the capped form.
      assert.match((await total.textContent()) ?? '', /^(10,0\d\d|\d+\+) users$/);
      const search = page.getByRole('searchbox', { name: 'Search' });
      await search.pressSequentially('oyela', { delay: 80 });
      const link = usersTable(page).getByRole('link', { name: PEOPLE.edited.email, exact: true });
      await eventually(async () => {
        // The header row and the one user whose name has "oyela" in it.
        assert.equal(await usersTable(page).getByRole('row').count(), 2);
        assert.equal(await link.count(), 1);
      });
      assert.match(new URL(page.url()).search, /[?&]q=oyela(&|$)/, 'the query is in the URL');
      // A common part of seeded names: every row shown has it in its email, username or full name.
      await search.fill('lovelace');
      await eventually(async () => {
        const rows = await usersTable(page).getByRole('row').allTextContents();
        assert.ok(rows.length > 2, rows.join('\n'));
        for (const row of rows.slice(1)) assert.match(row.toLowerCase(), /lovelace/);
      });
      await search.fill('oyela');
      await link.waitFor();
      await link.click();
      await heading(page, PEOPLE.edited.email).waitFor();
      assert.equal(new URL(page.url()).pathname, `/admin/users/${ids.edited}`);
    });
  });

  it('edits a full name inline; the API has the new name', async () => {
    await flow(async ({ page }) => {
      await signIn(page);
      await openUser(page, 'edited');
      const name = 'Quentin Oyelaran-Edited';
      await page.getByRole('button', { name: 'Edit full name' }).click();
      const input = page.getByLabel('Full name', { exact: true });
      await input.fill(name);
      await input.press('Enter');
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
      await page.getByText(name, { exact: true }).first().waitFor();
      const user = await api(`/users/${ids.edited}`, { token: adminToken });
      assert.equal(user.body.full_name, name);
    });
  });

  it('shows the 422 for a bad email next to the Email field and changes nothing', async () => {
    await flow(async ({ page, problems }) => {
      problems.expect(new RegExp(`status of 422 .*/api/v1/users/${ids.edited}$`));
      const bad = 'not-an-email';
      // What the API itself says about this value, to find on the page.
      const direct = await api(`/users/${ids.edited}`, { method: 'PATCH', token: adminToken, body: { email: bad } });
      assert.equal(direct.status, 422);
      const msg = String(direct.body.detail.find((d: { loc: string[] }) => d.loc.at(-1) === 'email')?.msg);

      await signIn(page);
      await openUser(page, 'edited');
      await page.getByRole('button', { name: 'Edit email' }).click();
      const input = page.getByLabel('Email', { exact: true });
      await input.fill(bad);
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      const error = page.locator('#email-error');
      await error.waitFor();
      assert.match((await error.textContent()) ?? '', new RegExp(msg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(await input.getAttribute('aria-invalid'), 'true');
      assert.equal(await input.getAttribute('aria-describedby'), 'email-error');
      assert.equal(await input.inputValue(), bad, 'the field keeps what was typed');
      const user = await api(`/users/${ids.edited}`, { token: adminToken });
      assert.equal(user.body.email, PEOPLE.edited.email);
    });
  });

  it('revokes one session: its refresh token is refused, the other session lives on', async () => {
    const revoked = await login(PEOPLE.sessions.email, PASSWORD, 'revoke-me-agent/1.0');
    const kept = await login(PEOPLE.sessions.email, PASSWORD, 'keep-me-agent/1.0');
    await flow(async ({ page }) => {
      await signIn(page);
      await openUser(page, 'sessions');
      const sessions = page.getByRole('table', { name: 'Sessions' });
      const row = sessions.getByRole('row').filter({ hasText: 'revoke-me-agent/1.0' });
      await row.waitFor();
      assert.equal(await sessions.getByRole('row').filter({ hasText: 'keep-me-agent/1.0' }).count(), 1);
      await row.getByRole('button', { name: 'Revoke', exact: true }).click();
      await eventually(async () => assert.equal(await row.count(), 0));
      assert.equal(await sessions.getByRole('row').filter({ hasText: 'keep-me-agent/1.0' }).count(), 1);
    });
    const refused = await api('/auth/refresh', { method: 'POST', body: { refresh_token: revoked.refresh_token } });
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    const refreshed = await api('/auth/refresh', { method: 'POST', body: { refresh_token: kept.refresh_token } });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  });

  it('deactivates a user; the API shows is_active false', async () => {
    await flow(async ({ page }) => {
      await signIn(page);
      await openUser(page, 'deactivated');
      await page.getByRole('button', { name: 'Deactivate', exact: true }).click();
      await page.getByRole('button', { name: 'Activate', exact: true }).waitFor();
      await page.getByText('Inactive', { exact: true }).first().waitFor();
      const user = await api(`/users/${ids.deactivated}`, { token: adminToken });
      assert.equal(user.body.is_active, false);
    });
  });

  it('deletes a user through a dialog that names them; the API then answers 404', async () => {
    const { email } = PEOPLE.deleted;
    await flow(async ({ page, problems }) => {
      // A page may look the deleted user up once more on its way out; that 404 is no fault.
      problems.expect(new RegExp(`status of 404 .*/api/v1/users/${ids.deleted}`));
      await signIn(page);
      await openUser(page, 'deleted');
      await page.getByRole('button', { name: 'Delete user', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      assert.match((await dialog.textContent()) ?? '', new RegExp(`Delete ${email}\\? This cannot be undone\\.`));
      await dialog.getByRole('button', { name: `Delete ${email}`, exact: true }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Deleted ${email}.` })
        .waitFor();
      assert.equal(new URL(page.url()).pathname, '/admin');
      const gone = await api(`/users/${ids.deleted}`, { token: adminToken });
      assert.equal(gone.status, 404);
    });
  });

  it('creates an API key, shows its secret once, and revokes it', async () => {
    const name = 'browser-test-key';
    let secret = '';
    await flow(async ({ page }) => {
      await signIn(page);
      await page.getByRole('link', { name: 'API keys', exact: true }).click();
      await heading(page, 'API keys').waitFor();
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByRole('checkbox', { name: 'users:read' }).check();
      await page.getByRole('button', { name: 'Create key' }).click();
      const field = page.getByLabel('Secret', { exact: true });
      await field.waitFor();
      secret = await field.inputValue();
      assert.match(secret, /^usk_/);
      await page.getByText('This secret is shown once').first().waitFor();
      assert.equal((await api('/users?limit=1', { apiKey: secret })).status, 200, 'the new key works');

      const row = page.getByRole('table', { name: 'API keys' }).getByRole('row').filter({ hasText: name });
      await row.getByRole('button', { name: `Revoke ${name}` }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      await dialog.getByRole('button', { name: /^Revoke/ }).click();
      await row.getByText('Revoked', { exact: true }).waitFor();
      assert.equal((await api('/users?limit=1', { apiKey: secret })).status, 401, 'the revoked key is refused');
      // Shown once: after a reload the page has no trace of it.
      await page.reload();
      await row.waitFor();
      assert.ok(!(await page.content()).includes(secret), 'the secret is on the page again');
    });
    assert.ok(!running?.output().includes(secret), 'the secret is in the service output');
  });

  it('shows the events of the flows above on the audit page', async () => {
    await flow(async ({ page }) => {
      await signIn(page);
      await page.getByRole('link', { name: 'Audit log', exact: true }).click();
      await heading(page, 'Audit log').waitFor();
      const table = page.getByRole('table', { name: 'Audit events' });
      await table.getByRole('row').nth(1).waitFor();
      const text = (await table.textContent()) ?? '';
      for (const event of [
        'login.succeeded',
        'login.failed',
        'user.created',
        'user.updated',
        'session.revoked',
        'user.deactivated',
        'user.deleted',
        'api_key.created',
        'api_key.revoked',
      ]) {
        assert.ok(text.includes(event), `${event} on the audit page`);
      }
    });
  });

  it('shows the banner with Retry while the API does not answer; Retry brings the data, the input stays', async () => {
    await flow(async ({ page, problems }) => {
      problems.expect(/net::ERR_FAILED .*\/api\/v1\//);
      await signIn(page);
      await usersSettled(page);
      await page.route('**/api/v1/**', (route) => route.abort('failed'));
      const search = page.getByRole('searchbox', { name: 'Search' });
      await search.pressSequentially('oyel', { delay: 50 });
      const banner = page.getByRole('alert').filter({ has: page.getByRole('button', { name: 'Retry' }) });
      await banner.waitFor();
      assert.equal(await search.inputValue(), 'oyel', 'the search box keeps what was typed');
      await page.unroute('**/api/v1/**');
      await banner.getByRole('button', { name: 'Retry' }).click();
      await banner.waitFor({ state: 'detached' });
      await usersTable(page).getByRole('link', { name: PEOPLE.edited.email, exact: true }).waitFor();
      assert.equal(await search.inputValue(), 'oyel');
    });
  });

  it('has no axe (WCAG 2 A/AA) violations on the sign-in, users and user pages', async () => {
    // axe runs under the console's real CSP (Trusted Types included): it is injected through the DevTools
    // protocol, which the page's policy does not govern, and it writes no markup from strings. No bypassCSP.
    await flow(async ({ page }) => {
      const check = async (what: string) => {
        const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
        const found = result.violations.map(
          (v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
        );
        assert.deepEqual(found, [], `${what}:\n${found.join('\n')}`);
      };
      await page.goto(`${base()}/admin`);
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await check('sign-in page');
      await signIn(page);
      await usersSettled(page);
      await check('users page');
      await openUser(page, 'edited');
      await check('user page');
    });
  });

  it('writes the README screenshots of the users and user pages at 1440 and 375 px', async () => {
    // Pages move focus to their heading on arrival (for screen readers); its focus ring is not part of the picture.
    const shoot = async (page: Page, name: string) => {
      await page.evaluate(() => (globalThis as any).document.activeElement?.blur());
      await page.screenshot({ path: join(REPO_DIR, 'docs', name) });
    };
    for (const viewport of [
      { width: 1440, height: 900 },
      { width: 375, height: 812 },
    ]) {
      await flow(async ({ page }) => {
        await signIn(page);
        await usersSettled(page);
        await usersTable(page).getByRole('row').nth(1).waitFor();
        await shoot(page, `admin-users-${viewport.width}.png`);
        await openUser(page, 'edited');
        await page.getByRole('table', { name: 'Sessions' }).or(page.getByText('No live sessions.')).first().waitFor();
        await shoot(page, `admin-user-${viewport.width}.png`);
      }, viewport);
    }
  });

  it('printed no password or token', () => {
    const output = running?.output() ?? '';
    assert.ok(!output.includes(ADMIN.password), 'the superuser password is in the service output');
    assert.ok(!output.includes(PASSWORD), 'a user password is in the service output');
  });
});

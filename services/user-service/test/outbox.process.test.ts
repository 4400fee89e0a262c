/**
 * The outbox in the service as it runs in production (`npm start`'s command, WORKERS=2): mails queued by HTTP
 * requests while the SMTP server is down (sign-ups, which mail a verification link, and password-reset
 * requests) are tried by the workers, kept, and delivered once it comes back, each exactly once, whichever
 * worker sends it; no token reaches the service's output.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Database, openDatabase } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import { outboxTable } from '../src/mail/outbox.table.js';
import {
  childrenOf,
  freePort,
  killAll,
  type Running,
  SERVICE_DIR,
  startService,
  waitFor,
} from './support/processes.js';
import { linkToken, type ReceivedMail, startTestSmtp, type TestSmtp } from './support/smtp.js';

/** Users signed up; each gets a verification mail, then asks for a reset: two mails each. */
const USERS = 3;
const MAILS = USERS * 2;
const PASSWORD = 'Saffron-Glacier-Ember-47';
const SMTP_PASSWORD = 'Smtp-Secret-4417';

/** A JSON POST on a connection of its own, so the cluster hands consecutive requests to both workers. */
async function post(base: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** Polls an async condition every 50 ms, up to `timeoutMs`. */
async function waitForAsync(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(50);
  }
  return condition();
}

// The three databases' services start side by side: a WORKERS=2 start takes most of the time.
describe('outbox across WORKERS=2 processes', { concurrency: 3 }, () => {
  onEachDatabase('outbox in the running service', (tdb) => {
    let running: Running | undefined;
    let database: Database | undefined;
    let smtp: TestSmtp | undefined;
    const pids = new Set<number>();
    after(async () => {
      if (running?.child.pid) {
        for (const pid of childrenOf(running.child.pid)) pids.add(pid);
        running.child.kill('SIGTERM');
        await Promise.race([running.exited, sleep(5_000)]);
      }
      killAll(pids);
      await smtp?.close();
      await database?.close();
    });

    it('SMTP down during sign-ups and reset requests: each mail arrives exactly once after it comes back; no token or SMTP password in the output', async () => {
      const port = await freePort();
      running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
        cwd: SERVICE_DIR,
        timeoutMs: 60_000,
        env: {
          WORKERS: '2',
          DATABASE_URL: requireUrl(tdb),
          DB_CONNECT_ATTEMPTS: '1',
          MIGRATE_ON_START: 'true',
          SMTP_URL: `smtp://mailer:${SMTP_PASSWORD}@127.0.0.1:${port}`,
          MAIL_FROM: 'Accounts <no-reply@example.com>',
          PUBLIC_URL: 'https://users.example.com',
          AUTH_RATE_LIMIT_PER_MINUTE: '100000',
          OUTBOX_POLL_MS: '100',
          OUTBOX_RETRY_BASE_MS: '50',
          OUTBOX_MAX_ATTEMPTS: '1000',
          LOG_LEVEL: 'info',
          LOG_FORMAT: 'json',
        },
      });
      if (running.child.pid) pids.add(running.child.pid);
      const output = running.output;
      assert.ok(await waitFor(() => /all 2 workers listening/.test(output()), 30_000), output());
      assert.match(
        output(),
        new RegExp(`mail: +SMTP 127\\.0\\.0\\.1:${port} \\(from Accounts <no-reply@example\\.com>\\)`),
      );

      const base = running.base;
      const recipients = Array.from({ length: USERS }, (_, i) => `process-${tdb.kind}-${i}@example.com`);
      for (const email of recipients) {
        const registered = await post(base, '/api/v1/auth/register', { email, password: PASSWORD });
        assert.equal(registered.status, 201, registered.text);
        const reset = await post(base, '/api/v1/auth/forgot-password', { email });
        assert.equal(reset.status, 202, reset.text);
      }
      database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
      const table = database.repository(outboxTable);
      // The reset requests are handled after their 202: wait for every mail to be queued.
      assert.ok(
        await waitForAsync(async () => (await table.count({ to_address: { in: recipients } })) === MAILS),
        'every mail is queued',
      );

      // The workers try at once and at their polls, and fail to reach SMTP, more than once.
      assert.ok(
        await waitForAsync(async () => (await table.count({ status: 'pending', attempts: { gte: 2 } })) === MAILS),
        'every mail was tried at least twice while SMTP was down',
      );
      assert.equal(await table.count({ status: 'sent' }), 0);

      smtp = await startTestSmtp({ port, auth: { user: 'mailer', pass: SMTP_PASSWORD } });
      const received: ReceivedMail[] = [];
      for (const to of recipients) {
        for (const subject of ['Confirm your email address', 'Reset your password']) {
          received.push(await smtp.next((m) => m.envelopeTo.includes(to) && m.subject === subject, 20_000));
        }
      }
      assert.ok(await waitForAsync(async () => (await table.count({ status: 'sent' })) === MAILS), 'all sent');
      // Several more polls of both workers, then still one copy each.
      await sleep(500);
      assert.equal(smtp.mails.length, MAILS, smtp.mails.map((m) => `${m.envelopeTo} ${m.subject}`).join('\n'));
      const tokens = received.map((m) =>
        linkToken(m, m.subject === 'Reset your password' ? '/reset-password' : '/verify-email'),
      );
      // Which worker tried which mail is up to timing (either may win each claim), so only that tries were logged.
      assert.match(output(), /outbox: send failed, will retry/, 'the failed tries are logged');
      for (const token of tokens) assert.ok(!output().includes(token), 'no token in the service output');
      assert.ok(!output().includes('#token='), 'no link in the service output');
      assert.ok(!output().includes(SMTP_PASSWORD), 'no SMTP password in the service output');
      assert.ok(!output().includes(PASSWORD), 'no user password in the service output');

      // The link's token works: the reset mail that arrived after the outage sets the password.
      const resetMail = received.find((m) => m.subject === 'Reset your password');
      assert.ok(resetMail);
      const done = await post(base, '/api/v1/auth/reset-password', {
        token: linkToken(resetMail, '/reset-password'),
        password: 'Walnut-Prairie-Comet-19',
      });
      assert.equal(done.status, 204, done.text);
    });
  });
});

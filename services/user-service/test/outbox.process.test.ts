/**
 * The outbox in the service as it runs in production (`npm start`'s command, WORKERS=2): mails queued while the
 * SMTP server is down are tried by the workers, kept, and delivered once it comes back, each exactly once,
 * whichever worker sends it; no token reaches the service's output. The mails are queued by a password-reset
 * request through the HTTP API when the service has that route, else straight into the service's outbox table.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Database, openDatabase } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import { loadConfig } from '../src/config.js';
import { Outbox } from '../src/mail/outbox.js';
import { outboxTable } from '../src/mail/outbox.table.js';
import { childrenOf, killAll, type Running, SERVICE_DIR, startService, waitFor } from './support/processes.js';
import { startTestSmtp, type TestSmtp } from './support/smtp.js';

const MAILS = 6;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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

    it('SMTP down while mails are queued: each arrives exactly once after it comes back; no token in the output', async () => {
      const port = await freePort();
      running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
        cwd: SERVICE_DIR,
        timeoutMs: 60_000,
        env: {
          WORKERS: '2',
          DATABASE_URL: requireUrl(tdb),
          DB_CONNECT_ATTEMPTS: '1',
          MIGRATE_ON_START: 'true',
          SMTP_URL: `smtp://127.0.0.1:${port}`,
          MAIL_FROM: 'Accounts <no-reply@example.com>',
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

      database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
      const outbox = new Outbox({ ...loadConfig({}).mail, publicUrl: 'https://users.example.com' }, database);
      const recipients = Array.from({ length: MAILS }, (_, i) => `process-${tdb.kind}-${i}@example.com`);
      const tokens = recipients.map((_, i) => `process-token-${tdb.kind}-${i}-Zq`);
      await database.unitOfWork(async (uow) => {
        for (const [i, to] of recipients.entries()) {
          await outbox.enqueue(uow, {
            to,
            template: 'reset-password',
            name: null,
            token: tokens[i] ?? '',
            expiresInMinutes: 30,
          });
        }
      });

      // The workers find the mails at their next poll and fail to reach SMTP, more than once.
      const table = database.repository(outboxTable);
      const tried = async () => (await table.count({ status: 'pending', attempts: { gte: 2 } })) === MAILS;
      const deadline = Date.now() + 15_000;
      while (!(await tried()) && Date.now() < deadline) await sleep(50);
      assert.ok(await tried(), 'every mail was tried at least twice while SMTP was down');
      assert.equal(await table.count({ status: 'sent' }), 0);

      smtp = await startTestSmtp({ port });
      for (const to of recipients) await smtp.next((m) => m.envelopeTo.includes(to), 20_000);
      const sentDeadline = Date.now() + 10_000;
      while ((await table.count({ status: 'sent' })) < MAILS && Date.now() < sentDeadline) await sleep(50);
      assert.equal(await table.count({ status: 'sent' }), MAILS);
      // Several more polls of both workers, then still one copy each.
      await sleep(500);
      const counts = recipients.map((to) => smtp?.mails.filter((m) => m.envelopeTo.includes(to)).length);
      assert.deepEqual(
        counts,
        recipients.map(() => 1),
      );
      // Which worker tried which mail is up to timing (either may win each claim), so only that tries were logged.
      assert.match(output(), /outbox: send failed, will retry/, 'the failed tries are logged');
      for (const token of tokens) assert.ok(!output().includes(token), 'no token in the service output');
      assert.ok(!output().includes('#token='), 'no link in the service output');
    });
  });
});

/**
 * The transactional outbox on each database, against a real SMTP server on loopback (test/support/smtp.ts):
 * delivery and what the mail holds; a rolled-back unit of work sends nothing; an SMTP outage keeps the mail
 * pending with its attempts and error and delivers it once the server is back, exactly once; spent attempts
 * mark it failed until `user-service outbox retry`; two senders on two connections pools share 30 mails, each
 * delivered once; without SMTP_URL only a log line without the token.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Database, Migrator, openDatabase } from '@user-service/data';
import { onEachDatabase, requireUrl } from '@user-service/data/testing';
import { loadConfig, type MailConfig } from '../src/config.js';
import { createMailTransport, type MailLogger, type MailTransport } from '../src/mail/mail-transport.js';
import { Outbox, type OutgoingMail } from '../src/mail/outbox.js';
import { OutboxRepository } from '../src/mail/outbox.repository.js';
import { type OutboxRow, outboxTable } from '../src/mail/outbox.table.js';
import { OutboxSender } from '../src/mail/outbox-sender.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { cli } from './support/cli.js';
import { freePort } from './support/processes.js';
import { linkToken, type ReceivedMail, startTestSmtp } from './support/smtp.js';

const FROM = 'Accounts <no-reply@example.com>';
const PUBLIC_URL = 'https://users.example.com';

/** A port nothing listens on (for now): listen on port 0, note the port, close. */
function capturingLog(): MailLogger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (object: object, message: string) =>
    lines.push(JSON.stringify({ level, ...object, msg: message }));
  return { lines, debug: write('debug'), info: write('info'), warn: write('warn') };
}

let counter = 0;
const address = (label: string) => `${label}-${Date.now()}-${++counter}@example.com`;

// The three databases side by side: most of the time is spent waiting (polls, retries, the CLI's start).
describe('outbox', { concurrency: 3 }, () => {
  onEachDatabase('outbox', (tdb) => {
    // One test at a time on a database (the parent's concurrency would be inherited): each test's senders
    // would take the others' mails.
    describe('sender, SMTP and CLI', { concurrency: 1 }, () => {
      let database: Database;
      const senders: OutboxSender[] = [];
      const extraDatabases: Database[] = [];

      before(async () => {
        database = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
        await (await Migrator.fromDirectory(database, MIGRATIONS_DIR)).up();
      });
      // Each test's senders stop with it, so none of them takes the next test's mails.
      afterEach(async () => {
        for (const sender of senders.splice(0)) await sender.close();
      });
      after(async () => {
        for (const extra of extraDatabases) await extra.close();
        await database.close();
      });

      /** An outbox and a started sender on `store` (this suite's database unless given). */
      function mailer(
        mail: Partial<MailConfig>,
        options: {
          store?: Database;
          log?: MailLogger;
          batchSize?: number;
          leaseMs?: number;
          transport?: MailTransport;
        } = {},
      ) {
        const config: MailConfig = {
          ...loadConfig({}).mail,
          from: FROM,
          publicUrl: PUBLIC_URL,
          pollMs: 100,
          retryBaseMs: 50,
          ...mail,
        };
        const store = options.store ?? database;
        const log = options.log ?? capturingLog();
        const outbox = new Outbox(config, store);
        const sender = new OutboxSender({
          config,
          store,
          outbox,
          transport: options.transport ?? createMailTransport(config, log),
          log,
          ...(options.batchSize ? { batchSize: options.batchSize } : {}),
          ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
        });
        senders.push(sender);
        sender.start();
        return { outbox, sender };
      }

      /** Queues mails in one unit of work, then wakes the sender, as the account service does. */
      async function enqueue(outbox: Outbox, ...mails: OutgoingMail[]): Promise<void> {
        await database.unitOfWork(async (uow) => {
          for (const mail of mails) await outbox.enqueue(uow, mail);
        });
        outbox.sendSoon();
      }

      const reset = (to: string, token = `tok-${counter}-Ab_9`): OutgoingMail => ({
        to,
        template: 'reset-password',
        name: null,
        token,
        expiresInMinutes: 30,
      });

      /** The outbox row sent to `to`, bodies included (the test reads what only the sender may). */
      async function row(to: string): Promise<OutboxRow> {
        const found = await database.repository(outboxTable).getBy({ to_address: to });
        assert.ok(found, `an outbox row for ${to}`);
        const full = await database.repository(outboxTable).get(found.id, { secrets: ['text_body', 'html_body'] });
        assert.ok(full);
        return full;
      }

      /** Polls the row for `to` until `check` holds (10 s at most). */
      async function rowWhen(to: string, check: (r: OutboxRow) => boolean, what: string): Promise<OutboxRow> {
        let last: OutboxRow | undefined;
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          last = await row(to);
          if (check(last)) return last;
          await sleep(25);
        }
        assert.fail(`${what}; the row is ${JSON.stringify(last)}`);
      }

      const to = (mail: ReceivedMail, recipient: string) => mail.envelopeTo.includes(recipient);

      it('delivers a mail over SMTP: from, to, subject, the link with the token, the name escaped, a stable Message-ID; the bodies are then deleted', async () => {
        const smtp = await startTestSmtp();
        try {
          const { outbox } = mailer({ smtpUrl: smtp.url });
          const recipient = address('deliver');
          const name = '<script>alert("x")</script> & Ada';
          await enqueue(outbox, {
            to: recipient,
            template: 'verify-email',
            name,
            token: 'Tok_en-123',
            expiresInMinutes: 2880,
          });
          const mail = await smtp.next((m) => to(m, recipient));
          assert.equal(mail.from, 'no-reply@example.com');
          assert.deepEqual(mail.to, [recipient]);
          assert.equal(mail.subject, 'Confirm your email address');
          assert.equal(linkToken(mail, '/verify-email'), 'Tok_en-123');
          assert.match(mail.text, /https:\/\/users\.example\.com\/verify-email#token=Tok_en-123/);
          assert.match(mail.text, /48 hours/);
          assert.match(mail.html, /href="https:\/\/users\.example\.com\/verify-email#token=Tok_en-123"/);
          assert.ok(mail.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Ada'), mail.html);
          assert.ok(!mail.html.includes('<script>'), 'the name arrives escaped in the HTML body');

          const sent = await rowWhen(recipient, (r) => r.status === 'sent', 'the row is marked sent');
          assert.equal(mail.messageId, `<${sent.id}@example.com>`);
          assert.equal(sent.text_body, null);
          assert.equal(sent.html_body, null);
          assert.equal(sent.attempts, 1);
          assert.equal(sent.locked_until, null);
          assert.ok(sent.sent_at);
        } finally {
          await smtp.close();
        }
      });

      it('a mail queued in a unit of work that rolls back is never written nor sent', async () => {
        const smtp = await startTestSmtp();
        try {
          const { outbox } = mailer({ smtpUrl: smtp.url });
          const recipient = address('rolled-back');
          await assert.rejects(
            database.unitOfWork(async (uow) => {
              await outbox.enqueue(uow, reset(recipient));
              throw new Error('the request failed after queueing its mail');
            }),
            /the request failed/,
          );
          outbox.sendSoon();
          assert.equal(await database.repository(outboxTable).getBy({ to_address: recipient }), undefined);
          const control = address('control');
          await enqueue(outbox, reset(control));
          await smtp.next((m) => to(m, control));
          assert.equal(smtp.mails.filter((m) => to(m, recipient)).length, 0);
        } finally {
          await smtp.close();
        }
      });

      it('SMTP down: the mail stays pending with its attempts and an error without credentials, then arrives once the server is back, exactly once', async () => {
        const port = await freePort();
        const smtpUrl = `smtp://mailer:S3cret-Pass@127.0.0.1:${port}`;
        const log = capturingLog();
        const { outbox } = mailer({ smtpUrl, retryBaseMs: 50, maxAttempts: 1000 }, { log });
        const recipient = address('outage');
        await enqueue(outbox, reset(recipient, 'outage-token-XYZ'));
        const waiting = await rowWhen(recipient, (r) => r.attempts >= 2, 'two failed tries');
        assert.equal(waiting.status, 'pending');
        assert.match(waiting.last_error ?? '', /ECONNREFUSED|ECONNECTION/);
        assert.ok(waiting.text_body?.includes('outage-token-XYZ'), 'the body is kept for the next try');
        for (const text of [waiting.last_error ?? '', ...log.lines]) {
          assert.ok(!text.includes('S3cret-Pass') && !text.includes('mailer:'), `no credentials in ${text}`);
          assert.ok(!text.includes('outage-token-XYZ'), `no token in ${text}`);
        }

        const smtp = await startTestSmtp({ port, auth: { user: 'mailer', pass: 'S3cret-Pass' } });
        try {
          const mail = await smtp.next((m) => to(m, recipient));
          assert.equal(linkToken(mail, '/reset-password'), 'outage-token-XYZ');
          const sent = await rowWhen(recipient, (r) => r.status === 'sent', 'the row is marked sent');
          assert.ok(sent.attempts >= 3);
          // Five more polls (100 ms each), then still one copy.
          await sleep(500);
          assert.equal(smtp.mails.filter((m) => to(m, recipient)).length, 1);
        } finally {
          await smtp.close();
        }
      });

      it('spent attempts mark the mail failed; `outbox` lists it without its body, `outbox retry` sends it again', async () => {
        const port = await freePort();
        const { outbox } = mailer({ smtpUrl: `smtp://127.0.0.1:${port}`, retryBaseMs: 10, maxAttempts: 2 });
        const recipient = address('failed');
        await enqueue(outbox, reset(recipient, 'failed-token-QRS'));
        const failed = await rowWhen(recipient, (r) => r.status === 'failed', 'the mail fails after two tries');
        assert.equal(failed.attempts, 2);

        const listed = await cli(tdb, ['outbox']);
        assert.equal(listed.code, 0, listed.stderr);
        assert.ok(!listed.stdout.includes('failed-token-QRS') && !listed.stdout.includes('#token='), 'no token listed');
        const [header, ...lines] = listed.stdout.trim().split('\n');
        assert.equal(header, 'id\tstatus\tto\tsubject\tattempts\tnext_try\tlast_error');
        const entry = lines.map((line) => line.split('\t')).find((cells) => cells[0] === failed.id);
        assert.ok(entry, listed.stdout);
        assert.deepEqual(entry.slice(1, 6), ['failed', recipient, 'Reset your password', '2', '-']);
        assert.match(entry[6] ?? '', /ECONNREFUSED|ECONNECTION/);

        const smtp = await startTestSmtp({ port });
        try {
          const retried = await cli(tdb, ['outbox', 'retry', failed.id]);
          assert.equal(retried.code, 0, retried.stderr);
          assert.match(retried.stdout, /1 mail/);
          const mail = await smtp.next((m) => to(m, recipient));
          assert.equal(linkToken(mail, '/reset-password'), 'failed-token-QRS');
          const sent = await rowWhen(recipient, (r) => r.status === 'sent', 'sent after the retry');
          assert.equal(sent.attempts, 1, 'the retry started the count again');
        } finally {
          await smtp.close();
        }
      });

      it('a mail claimed by a process that died is sent by another once the claim runs out; the dead claim can no longer finish it', async () => {
        const smtp = await startTestSmtp();
        try {
          const config: MailConfig = { ...loadConfig({}).mail, from: FROM, publicUrl: PUBLIC_URL };
          const recipient = address('orphan');
          const outbox = new Outbox(config, database);
          // Committed, then the process dies before its sender gets to it: claimed with a 400 ms lease, never sent.
          await database.unitOfWork((uow) => outbox.enqueue(uow, reset(recipient, 'orphan-token-UVW')));
          const repository = new OutboxRepository(database);
          const deadClaim = randomUUID();
          const now = Date.now();
          const claimed = await repository.claimDue(
            new Date(now).toISOString(),
            new Date(now + 400).toISOString(),
            deadClaim,
            100,
          );
          const orphan = claimed.find((m) => m.to_address === recipient);
          assert.ok(orphan, 'the dead process held the mail');

          mailer({ smtpUrl: smtp.url });
          const mail = await smtp.next((m) => to(m, recipient));
          assert.ok(Date.now() - now >= 400, 'not before the claim ran out');
          assert.equal(linkToken(mail, '/reset-password'), 'orphan-token-UVW');
          await rowWhen(recipient, (r) => r.status === 'sent', 'sent by the live sender');
          assert.equal(await repository.markSent(orphan.id, deadClaim, 1, new Date().toISOString()), false);
          assert.equal(await repository.renew(orphan.id, deadClaim, new Date().toISOString()), false);
          await sleep(300);
          assert.equal(smtp.mails.filter((m) => to(m, recipient)).length, 1);
        } finally {
          await smtp.close();
        }
      });

      it('a slow batch renews the lease of each mail before sending it: a second sender never takes one over', async () => {
        // Sends take 150 ms against a 400 ms lease: without renewal the batch's third and fourth mails would
        // start after their lease ran out, and the second sender, polling every 100 ms, would send them again.
        const sent: string[] = [];
        const slow: MailTransport = {
          async send(message) {
            await sleep(150);
            sent.push(message.to);
          },
          close() {},
        };
        const recipients = Array.from({ length: 4 }, (_, i) => address(`slow-${i}`));
        const { outbox } = mailer({ smtpUrl: 'smtp://127.0.0.1:9' }, { transport: slow, leaseMs: 400, batchSize: 4 });
        await enqueue(outbox, ...recipients.map((r) => reset(r)));
        mailer({ smtpUrl: 'smtp://127.0.0.1:9' }, { transport: slow, leaseMs: 400, batchSize: 4 });
        for (const recipient of recipients) await rowWhen(recipient, (r) => r.status === 'sent', `${recipient} sent`);
        await sleep(300);
        assert.deepEqual(
          recipients.map((r) => sent.filter((to) => to === r).length),
          [1, 1, 1, 1],
        );
      });

      // Server databases only. Two handles on one SQLite file in one process block each other's event loop:
      // better-sqlite3 waits for the file lock synchronously (busy_timeout), so the handle holding it cannot
      // finish while the other waits, and every other test running beside this one freezes with them (the
      // PostgreSQL and MariaDB suites' timed leases failed so on CI). SQLite's senders are one per process; that
      // case, WORKERS=2 on one file, is outbox.process.test.ts.
      const onServer = (name: string, fn: () => Promise<void>) => {
        if (tdb.kind !== 'sqlite') it(name, fn);
      };
      onServer('two senders on two connection pools share 30 mails: each is delivered exactly once', async () => {
        const smtp = await startTestSmtp();
        try {
          const second = await openDatabase(requireUrl(tdb), { connectAttempts: 1 });
          extraDatabases.push(second);
          const a = mailer({ smtpUrl: smtp.url }, { batchSize: 3 });
          const b = mailer({ smtpUrl: smtp.url }, { store: second, batchSize: 3 });
          const recipients = Array.from({ length: 30 }, (_, i) => address(`pair-${i}`));
          await enqueue(a.outbox, ...recipients.map((r) => reset(r)));
          a.outbox.sendSoon();
          b.outbox.sendSoon();
          for (const recipient of recipients) await smtp.next((m) => to(m, recipient), 20_000);
          for (const recipient of recipients) await rowWhen(recipient, (r) => r.status === 'sent', `${recipient} sent`);
          await sleep(500);
          const counts = recipients.map((r) => smtp.mails.filter((m) => to(m, r)).length);
          assert.deepEqual(
            counts,
            recipients.map(() => 1),
          );
        } finally {
          await smtp.close();
        }
      });

      it('a sender survives database errors: debug for the first two, a warning from the third in a row, then it delivers', async () => {
        const smtp = await startTestSmtp();
        try {
          // The store's claims fail four times (a database that went away), then work again.
          let failures = 4;
          const flaky = new Proxy(database, {
            get(target, property, receiver) {
              if (property !== 'repository') return Reflect.get(target, property, receiver);
              return (table: typeof outboxTable) => {
                const repository = target.repository(table);
                return new Proxy(repository, {
                  get(inner, name, innerReceiver) {
                    if (name === 'claim' && failures > 0) {
                      return async () => {
                        failures -= 1;
                        throw new Error('connection refused by the test');
                      };
                    }
                    return Reflect.get(inner, name, innerReceiver);
                  },
                });
              };
            },
          });
          const log = capturingLog();
          const { outbox } = mailer({ smtpUrl: smtp.url }, { store: flaky, log });
          const recipient = address('flaky');
          await enqueue(outbox, reset(recipient));
          await smtp.next((m) => to(m, recipient));
          const errors = log.lines.filter((line) => line.includes('could not read or update the outbox'));
          assert.deepEqual(
            errors.map((line) => (JSON.parse(line) as { level: string }).level),
            ['debug', 'debug', 'warn', 'warn'],
          );
          assert.match(errors[0] ?? '', /connection refused by the test/);
        } finally {
          await smtp.close();
        }
      });

      it('deletes sent and failed mails a week after their last try, never a pending one', async () => {
        const day = 86_400_000;
        const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
        const base = { template: 'reset-password', subject: 's', text_body: null, html_body: null, attempts: 1 };
        const put = (to: string, status: OutboxRow['status'], lastTry: number, held = false) =>
          database.repository(outboxTable).create({
            ...base,
            to_address: to,
            status,
            created_at: at(lastTry),
            available_at: at(lastTry),
            // A pending mail some sender holds, so this test's sender leaves it where it is.
            locked_until: held ? at(-day) : null,
            claimed_by: held ? randomUUID() : null,
            last_error: null,
            sent_at: status === 'sent' ? at(lastTry) : null,
          });
        const id = `${counter++}`;
        await put(`old-sent-${id}@example.com`, 'sent', 8 * day);
        await put(`old-failed-${id}@example.com`, 'failed', 8 * day);
        await put(`old-pending-${id}@example.com`, 'pending', 8 * day, true);
        await put(`new-sent-${id}@example.com`, 'sent', 6 * day);
        // Not started: no drain of its own runs beside this test's calls.
        const config: MailConfig = { ...loadConfig({}).mail, from: FROM, publicUrl: PUBLIC_URL };
        const log = capturingLog();
        const sender = new OutboxSender({
          config,
          store: database,
          outbox: new Outbox(config, database),
          transport: createMailTransport(config, log),
          log,
        });
        assert.equal(await sender.pruneNowAndThen(), 2);
        const left = (await database.repository(outboxTable).list({ limit: 1000 })).items.map((r) => r.to_address);
        assert.ok(left.includes(`old-pending-${id}@example.com`), 'a pending mail is never pruned, however old');
        assert.ok(left.includes(`new-sent-${id}@example.com`), 'a mail sent 6 days ago stays');
        assert.ok(!left.some((to) => to.startsWith('old-sent') || to.startsWith('old-failed')));
        assert.equal(await sender.pruneNowAndThen(), 0, 'at most once an hour');
      });

      it('closing a sender waits for the send in flight and stops claiming', async () => {
        const smtp = await startTestSmtp();
        try {
          const { outbox, sender } = mailer({ smtpUrl: smtp.url });
          const first = address('before-close');
          await enqueue(outbox, reset(first));
          await sender.close();
          // Whatever was in flight when close() began has finished: the mail is either sent or back in line.
          const row1 = await row(first);
          assert.ok(row1.status === 'sent' || row1.locked_until === null, JSON.stringify(row1));
          const later = address('after-close');
          await enqueue(outbox, reset(later));
          await sleep(300);
          assert.equal((await row(later)).status, 'pending', 'a closed sender takes no new mail');
          assert.equal((await row(later)).attempts, 0);
        } finally {
          await smtp.close();
        }
      });

      it('without SMTP_URL the mail is logged at info (to, subject, template), never its body or token', async () => {
        const log = capturingLog();
        const { outbox } = mailer({ smtpUrl: undefined }, { log });
        const recipient = address('logged');
        await enqueue(outbox, reset(recipient, 'logged-token-LMN'));
        const sent = await rowWhen(recipient, (r) => r.status === 'sent', 'the logged mail counts as sent');
        assert.equal(sent.text_body, null);
        const line = log.lines.find((l) => l.includes(recipient) && l.includes('"level":"info"'));
        assert.ok(line, log.lines.join('\n'));
        assert.match(line, /"subject":"Reset your password"/);
        assert.match(line, /"template":"reset-password"/);
        for (const text of log.lines) {
          assert.ok(!text.includes('logged-token-LMN') && !text.includes('#token='), `no token in ${text}`);
        }
      });
    });
  });
});

/**
 * The mail pieces without a database: templates (link in the fragment, expiry in words, the name escaped),
 * the Message-ID, the banner's description and stored errors without SMTP credentials, the retry schedule.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { describeMail, safeErrorText } from '../src/mail/mail-transport.js';
import { messageIdFor } from '../src/mail/outbox.js';
import { MAX_RETRY_DELAY_MS, retryDelayMs } from '../src/mail/outbox-sender.js';
import { durationInWords, escapeHtml, renderMail } from '../src/mail/templates.js';

const input = { name: null, token: 'abc_DEF-123', expiresInMinutes: 30, publicUrl: 'https://users.example.com' };

describe('mail templates', () => {
  it('put the token in the fragment of the link, in the text and the HTML body', () => {
    for (const [template, path] of [
      ['verify-email', '/verify-email'],
      ['reset-password', '/reset-password'],
    ] as const) {
      const mail = renderMail(template, input);
      const link = `https://users.example.com${path}#token=abc_DEF-123`;
      assert.ok(mail.text.includes(link), mail.text);
      assert.ok(mail.html.includes(`href="${link}"`), mail.html);
      assert.ok(mail.subject.length > 0 && !mail.subject.includes('abc_DEF-123'));
    }
  });

  it('escape the user-given name in the HTML body and keep it as written in the text body', () => {
    const mail = renderMail('reset-password', { ...input, name: `<img src=x onerror="alert('x')">` });
    assert.ok(!mail.html.includes('<img'), mail.html);
    assert.ok(mail.html.includes('&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;'), mail.html);
    assert.match(mail.text, /^Hello <img src=x onerror="alert\('x'\)">,$/m);
    assert.match(renderMail('reset-password', input).text, /^Hello,$/m);
  });

  it('state the expiry in words', () => {
    assert.match(renderMail('reset-password', input).text, /works for 30 minutes/);
    assert.match(renderMail('verify-email', { ...input, expiresInMinutes: 48 * 60 }).text, /works for 48 hours/);
    assert.deepEqual([1, 45, 60, 90, 120, 1440, 2880, 4320, 10_080].map(durationInWords), [
      '1 minute',
      '45 minutes',
      '1 hour',
      '90 minutes',
      '2 hours',
      '24 hours',
      '48 hours',
      '3 days',
      '7 days',
    ]);
  });

  it('escapeHtml escapes the five special characters', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('mail transport and sender helpers', () => {
  it('the Message-ID is the outbox id at the sender domain', () => {
    const id = '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a';
    assert.equal(messageIdFor(id, 'Accounts <no-reply@example.com>'), `<${id}@example.com>`);
    assert.equal(messageIdFor(id, 'no-reply@mail.example.org'), `<${id}@mail.example.org>`);
  });

  it('the banner names the SMTP host, port and sender, never the credentials', () => {
    const mail = loadConfig({}).mail;
    assert.equal(describeMail(mail), 'not sent, logged (SMTP_URL unset)');
    const described = describeMail({ ...mail, smtpUrl: 'smtps://mailer:Pa%24%24word@smtp.example.com' });
    assert.equal(described, `SMTP smtp.example.com:465 (TLS) (from ${mail.from})`);
    assert.equal(
      describeMail({ ...mail, smtpUrl: 'smtp://smtp.example.com:2525' }).split(' (from')[0],
      'SMTP smtp.example.com:2525',
    );
  });

  it('an error is stored without the SMTP URL, user name or password, on one line, cut to the limit', () => {
    const url = 'smtp://mailer%40corp:Pa%24%24word@smtp.example.com:587';
    const error = Object.assign(
      new Error(`Invalid login for mailer@corp with Pa$$word at ${url}\r\n535 5.7.8 rejected`),
      { code: 'EAUTH' },
    );
    const text = safeErrorText(error, url, 500);
    assert.equal(text, 'EAUTH: Invalid login for *** with *** at *** 535 5.7.8 rejected');
    const long = safeErrorText(new Error('x'.repeat(1000)), undefined, 500);
    assert.equal(long.length, 500);
  });

  it('retries wait the base delay doubled per failure, with ±25% jitter, never over an hour', () => {
    const low = () => 0;
    const high = () => 1;
    assert.equal(retryDelayMs(1000, 1, low), 750);
    assert.equal(retryDelayMs(1000, 1, high), 1250);
    assert.equal(
      retryDelayMs(1000, 2, () => 0.5),
      2000,
    );
    assert.equal(
      retryDelayMs(1000, 5, () => 0.5),
      16_000,
    );
    assert.equal(retryDelayMs(1000, 40, high), MAX_RETRY_DELAY_MS);
    assert.ok(retryDelayMs(1000, 40, low) <= MAX_RETRY_DELAY_MS);
  });
});

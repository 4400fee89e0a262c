/**
 * A real SMTP server on loopback for tests (smtp-server), with every mail it accepts parsed by mailparser, so a
 * test checks what a mail client would see: headers, text and HTML bodies, the link in them.
 */
import type { AddressInfo } from 'node:net';
import { type AddressObject, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The From address (bare address, e.g. no-reply@localhost). */
  from: string;
  /** The To addresses (bare addresses). */
  to: string[];
  /** The SMTP envelope's recipients (RCPT TO), which is where the mail was actually delivered. */
  envelopeTo: string[];
  subject: string;
  text: string;
  /** The HTML body, or '' when the mail has none. */
  html: string;
  /** The Message-ID header, angle brackets included, as mailparser reports it. */
  messageId: string;
  /** Every header, lower-case names, as mailparser reports them. */
  headers: Map<string, unknown>;
  /** The raw message as received. */
  raw: string;
}

export interface TestSmtp {
  /** smtp://127.0.0.1:port, with user:pass@ when the server requires auth. */
  url: string;
  port: number;
  /** Every mail received so far, in order of arrival. */
  mails: ReceivedMail[];
  /**
   * The first mail matching `predicate` that an earlier `next` has not returned, waiting up to `timeoutMs` for
   * it to arrive (mails already received count).
   */
  next(predicate?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Makes every following message fail with a temporary 451 (the server stays up, the mail is refused). */
  refuse(refusing: boolean): void;
  close(): Promise<void>;
}

export interface TestSmtpOptions {
  /** A fixed port (e.g. one a sender already failed to reach); 0 or unset picks a free one. */
  port?: number;
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; pass: string };
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((object) => object.value.map((entry) => entry.address ?? '')).filter(Boolean);
}

export async function startTestSmtp(options: TestSmtpOptions = {}): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  const returned = new Set<ReceivedMail>();
  const waiters = new Set<() => void>();
  let refusing = false;
  const server = new SMTPServer({
    // Plain SMTP on loopback: the server's built-in self-signed certificate would make nodemailer's STARTTLS
    // fail verification, and tests do not need TLS.
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(new Error('Invalid username or password'));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        if (refusing) {
          const error = new Error('try again later') as Error & { responseCode: number };
          error.responseCode = 451;
          callback(error);
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            mails.push({
              from: addresses(parsed.from)[0] ?? '',
              to: addresses(parsed.to),
              envelopeTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              messageId: parsed.messageId ?? '',
              headers: parsed.headers as Map<string, unknown>,
              raw: raw.toString('utf8'),
            });
            for (const wake of waiters) wake();
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // smtp-server logs socket errors as 'error' events; a test's client hanging up must not crash the run.
  server.on('error', () => {});
  const port = (server.server.address() as AddressInfo).port;
  const credentials = options.auth
    ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@`
    : '';

  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    port,
    mails,
    next(predicate = () => true, timeoutMs = 10_000) {
      const take = () => {
        const mail = mails.find((candidate) => !returned.has(candidate) && predicate(candidate));
        if (mail) returned.add(mail);
        return mail;
      };
      const now = take();
      if (now) return Promise.resolve(now);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const wake = () => {
          const mail = take();
          if (!mail) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(mail);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`no matching mail within ${timeoutMs} ms (${mails.length} received)`));
        }, timeoutMs);
        waiters.add(wake);
      });
    },
    refuse(value) {
      refusing = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The token in the mail's link to `path` (`<base>/verify-email#token=...`), read from the text body as a user
 * would copy it. Throws when the mail holds no such link.
 */
export function linkToken(mail: ReceivedMail, path: '/verify-email' | '/reset-password'): string {
  const escaped = path.replace(/[/-]/g, '\\$&');
  const match = new RegExp(`https?://\\S+?${escaped}#token=([A-Za-z0-9_.~%-]+)`).exec(mail.text);
  if (!match?.[1]) throw new Error(`no ${path} link in the mail's text body:\n${mail.text}`);
  return decodeURIComponent(match[1]);
}

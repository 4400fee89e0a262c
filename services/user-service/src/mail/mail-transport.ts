/**
 * How a rendered mail leaves the process: over SMTP (nodemailer) when SMTP_URL is set, or, in development
 * without SMTP_URL, as one info log line that names the mail but never carries its body (the body holds the
 * token).
 */
import nodemailer from 'nodemailer';
import type { MailConfig } from '../config.js';

export interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** With angle brackets: `<id@domain>`. */
  messageId: string;
  /** The template it was rendered from, for the log transport's line. */
  template: string;
}

export interface MailTransport {
  /** Resolves once the SMTP server accepted the mail; rejects with the server's or the network's error. */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** The part of a pino/Fastify logger the mail code uses. */
export interface MailLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

interface SmtpTarget {
  host: string;
  port: number;
  secure: boolean;
  auth: { user: string; pass: string } | undefined;
}

/** SMTP_URL's parts; the port defaults as nodemailer's do (465 for smtps, 587 for smtp). */
function smtpTarget(smtpUrl: string): SmtpTarget {
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  const user = decodeURIComponent(url.username);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    auth: user ? { user, pass: decodeURIComponent(url.password) } : undefined,
  };
}

/** For the banner: where mail goes, never the credentials. */
export function describeMail(config: MailConfig): string {
  if (!config.smtpUrl) return 'not sent, logged (SMTP_URL unset)';
  const target = smtpTarget(config.smtpUrl);
  return `SMTP ${target.host}:${target.port}${target.secure ? ' (TLS)' : ''} (from ${config.from})`;
}

/**
 * An error's text as it may be stored and logged: the SMTP URL and its user name and password cut out
 * wherever they appear (a server may echo the login), on one line, at most `maxLength` characters.
 */
export function safeErrorText(error: unknown, smtpUrl: string | undefined, maxLength: number): string {
  const err = error as { code?: unknown; responseCode?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(error);
  const code = typeof err?.code === 'string' ? `${err.code}: ` : '';
  let text = `${code}${message}`.replace(/[\r\n]+/g, ' ').trim();
  if (smtpUrl) {
    const url = new URL(smtpUrl);
    const secrets = [
      smtpUrl,
      url.username,
      url.password,
      decodeURIComponent(url.username),
      decodeURIComponent(url.password),
    ]
      .filter((secret) => secret.length > 0)
      // Longest first, so the whole URL goes before the password inside it.
      .sort((a, b) => b.length - a.length);
    for (const secret of secrets) text = text.replaceAll(secret, '***');
  }
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/**
 * One connection per mail (no pool: mails are few, and a pooled connection the server dropped while idle would
 * fail the next send). The timeouts bound a send against a server that accepts the connection and then stalls,
 * well inside the sender's claim lease.
 */
export function createMailTransport(config: MailConfig, log: MailLogger): MailTransport {
  if (!config.smtpUrl) return logTransport(log);
  const target = smtpTarget(config.smtpUrl);
  const transporter = nodemailer.createTransport({
    host: target.host,
    port: target.port,
    secure: target.secure,
    ...(target.auth ? { auth: target.auth } : {}),
    pool: false,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    logger: false,
    debug: false,
  });
  return {
    async send(message) {
      await transporter.sendMail({
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: message.messageId,
      });
    },
    close: () => transporter.close(),
  };
}

/** Development without SMTP_URL: the mail is named in the log, and its body (with the token) is dropped. */
function logTransport(log: MailLogger): MailTransport {
  return {
    async send(message) {
      log.info(
        { to: message.to, subject: message.subject, template: message.template },
        'mail not sent (SMTP_URL unset): logged without its body',
      );
    },
    close() {},
  };
}

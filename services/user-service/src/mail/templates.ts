/**
 * The mails the service sends, as subject, text and HTML. Plain on purpose: a sentence, the link, how long it
 * works, and what to do if the mail was not expected. The token travels in the link's fragment (`#token=`),
 * which a browser never sends to a server, so it reaches no access log and no Referer header.
 */

export type MailTemplate = 'verify-email' | 'reset-password';

export const MAIL_TEMPLATES: readonly MailTemplate[] = ['verify-email', 'reset-password'];

export interface TemplateInput {
  /** The user's name (user input: escaped in the HTML body), or null to greet without one. */
  name: string | null;
  token: string;
  expiresInMinutes: number;
  /** PUBLIC_URL, without a trailing slash. */
  publicUrl: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** Escapes the five characters that matter in HTML text and attribute values. */
export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * "30 minutes", "1 hour", "48 hours", "7 days": exact, in whole hours up to two days (a reader counts 48 hours
 * more easily than 2 days from now), in whole days beyond.
 */
export function durationInWords(minutes: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (minutes > 2880 && minutes % 1440 === 0) return plural(minutes / 1440, 'day');
  if (minutes >= 60 && minutes % 60 === 0) return plural(minutes / 60, 'hour');
  return plural(minutes, 'minute');
}

const CONTENT = {
  'verify-email': {
    subject: 'Confirm your email address',
    path: '/verify-email',
    lead: 'Please confirm that this is your email address by opening this link:',
    action: 'Confirm my email address',
    unexpected: 'If you did not create an account, you can ignore this mail.',
  },
  'reset-password': {
    subject: 'Reset your password',
    path: '/reset-password',
    lead: 'Someone asked to reset the password of your account. To choose a new password, open this link:',
    action: 'Choose a new password',
    unexpected: 'If you did not ask for this, you can ignore this mail: your password stays as it is.',
  },
} as const satisfies Record<MailTemplate, unknown>;

export function renderMail(template: MailTemplate, input: TemplateInput): RenderedMail {
  const content = CONTENT[template];
  // Tokens are URL-safe already; encoding anyway keeps a link intact whatever a token is made of.
  const link = `${input.publicUrl}${content.path}#token=${encodeURIComponent(input.token)}`;
  const expiry = `The link works for ${durationInWords(input.expiresInMinutes)}.`;
  const name = input.name?.trim() || null;
  const text = [
    name ? `Hello ${name},` : 'Hello,',
    '',
    content.lead,
    '',
    link,
    '',
    expiry,
    content.unexpected,
    '',
  ].join('\n');
  const html = [
    '<!DOCTYPE html>',
    '<html><body style="font-family: sans-serif; line-height: 1.5">',
    `<p>${name ? `Hello ${escapeHtml(name)},` : 'Hello,'}</p>`,
    `<p>${escapeHtml(content.lead)}</p>`,
    `<p><a href="${escapeHtml(link)}">${escapeHtml(content.action)}</a></p>`,
    `<p>Or copy this address into your browser:<br>${escapeHtml(link)}</p>`,
    `<p>${escapeHtml(expiry)} ${escapeHtml(content.unexpected)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
  return { subject: content.subject, text, html };
}

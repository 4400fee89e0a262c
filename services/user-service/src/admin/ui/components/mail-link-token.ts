import { useEffect, useState } from 'preact/hooks';

/**
 * The token a mail's link carries after #token= (mail/templates.ts). It is in the fragment so it never reaches a
 * server log or a Referer; once read, it is also taken out of the address bar (history.replaceState), so it does
 * not stay in the tab's history or in a bookmark or screenshot of the page.
 */
export function takeMailLinkToken(): string | undefined {
  const hash = location.hash.replace(/^#/, '');
  if (!hash) return undefined;
  const token = new URLSearchParams(hash).get('token') ?? undefined;
  history.replaceState(history.state, '', location.pathname + location.search);
  return token?.trim() || undefined;
}

/** One reading of the link; a new object each time, so the same link opened again counts as new. */
export interface MailLink {
  token: string | undefined;
}

/**
 * The link's token, read on opening and again when another mail link is opened in the same tab: the browser
 * then changes only the fragment of this document and does not load the page anew.
 */
export function useMailLink(): MailLink {
  const [link, setLink] = useState<MailLink>(() => ({ token: takeMailLinkToken() }));
  useEffect(() => {
    const opened = () => {
      const token = takeMailLinkToken();
      if (token) setLink({ token });
    };
    addEventListener('hashchange', opened);
    return () => removeEventListener('hashchange', opened);
  }, []);
  return link;
}

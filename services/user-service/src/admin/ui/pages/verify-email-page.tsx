import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, request } from '../api-client';
import { useMailLink } from '../components/mail-link-token';
import { ConnectionBanner, clearConnectionProblem, reportIfTransient } from '../connection-banner';

type State =
  | { kind: 'no-token' }
  | { kind: 'verifying' }
  | { kind: 'interrupted' }
  | { kind: 'verified'; email: string }
  | { kind: 'failed'; message: string };

/**
 * Where the verification mail's link lands (/verify-email#token=...): public, no sign-in. Sends the token to
 * POST /api/v1/auth/verify once on opening (the token works once) and says what came of it.
 */
export function VerifyEmailPage() {
  // Read before the first render: the address bar loses the token at the same moment.
  const link = useMailLink();
  const { token } = link;
  const [state, setState] = useState<State>(token ? { kind: 'verifying' } : { kind: 'no-token' });
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => heading.current?.focus(), []);

  useEffect(() => {
    if (!token) return;
    const verify = () => {
      setState({ kind: 'verifying' });
      request<{ email: string }>('/auth/verify', { method: 'POST', body: { token } }).then(
        (user) => {
          clearConnectionProblem();
          setState({ kind: 'verified', email: user.email });
        },
        (error: unknown) => {
          // A lost connection: the token was not spent (or the answer is lost); Retry sends it again.
          if (reportIfTransient(error, verify)) {
            setState({ kind: 'interrupted' });
            return;
          }
          setState({ kind: 'failed', message: error instanceof ApiError ? error.message : String(error) });
        },
      );
    };
    verify();
  }, [link]);

  return (
    <>
      <ConnectionBanner />
      <main class="mail-page" id="main">
        <section class="mail-card" aria-labelledby="mail-title">
          <h1 id="mail-title" ref={heading} tabIndex={-1}>
            Verify your email
          </h1>
          {state.kind === 'verifying' && (
            <p role="status" class="muted">
              Verifying…
            </p>
          )}
          {state.kind === 'interrupted' && (
            <p role="status" class="muted">
              Not verified yet: the service did not answer.
            </p>
          )}
          {state.kind === 'verified' && (
            <div role="status">
              <p class="ok">Your email address is verified.</p>
              <p class="muted">
                <span class="mono">{state.email}</span> is confirmed. You can close this page.
              </p>
            </div>
          )}
          {state.kind === 'failed' && (
            <p role="alert" class="error">
              {state.message}
            </p>
          )}
          {state.kind === 'no-token' && (
            <p role="alert" class="error">
              This link is incomplete: it carries no token. Open the link from the mail again, or ask for a new
              verification mail.
            </p>
          )}
        </section>
      </main>
    </>
  );
}

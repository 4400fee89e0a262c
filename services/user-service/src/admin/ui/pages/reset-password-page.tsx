import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, request } from '../api-client';
import { useMailLink } from '../components/mail-link-token';
import { ConnectionBanner, clearConnectionProblem, reportIfTransient } from '../connection-banner';

/**
 * Where the password-reset mail's link lands (/reset-password#token=...): public, no sign-in. The new password
 * is typed twice and compared here (a typo would lock the user out); the rules on the password itself are the
 * API's (POST /api/v1/auth/reset-password answers 422 on body.password), shown next to "New password".
 */
export function ResetPasswordPage() {
  const link = useMailLink();
  const { token } = link;
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [passwordError, setPasswordError] = useState<string | undefined>();
  const [repeatError, setRepeatError] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const passwordInput = useRef<HTMLInputElement>(null);
  const repeatInput = useRef<HTMLInputElement>(null);

  useEffect(() => heading.current?.focus(), []);
  // Another mail link opened in this tab: a fresh start with its token.
  const first = useRef(link);
  useEffect(() => {
    if (link === first.current) return;
    setDone(false);
    setError(undefined);
    setPasswordError(undefined);
    setRepeatError(undefined);
  }, [link]);

  const send = async () => {
    if (!token) return;
    setBusy(true);
    setError(undefined);
    setPasswordError(undefined);
    try {
      await request('/auth/reset-password', { method: 'POST', body: { token, password } });
      clearConnectionProblem();
      // Nothing of the password stays in the page once it is set.
      setPassword('');
      setRepeat('');
      setDone(true);
    } catch (caught) {
      if (reportIfTransient(caught, () => void send())) return;
      if (caught instanceof ApiError && caught.status === 422 && caught.fields.password) {
        setPasswordError(caught.fields.password);
        passwordInput.current?.focus();
      } else {
        setError(caught instanceof Error ? caught.message : String(caught));
      }
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: Event) => {
    event.preventDefault();
    if (password !== repeat) {
      setRepeatError('The two passwords differ: type the same new password twice.');
      repeatInput.current?.focus();
      return;
    }
    setRepeatError(undefined);
    void send();
  };

  return (
    <>
      <ConnectionBanner />
      <main class="mail-page" id="main">
        <section class="mail-card" aria-labelledby="mail-title">
          <h1 id="mail-title" ref={heading} tabIndex={-1}>
            Choose a new password
          </h1>
          {!token && (
            <p role="alert" class="error">
              This link is incomplete: it carries no token. Open the link from the mail again, or ask for a new
              password-reset mail.
            </p>
          )}
          {token && done && (
            <p role="status" class="ok">
              Your password is changed. You can sign in now.
            </p>
          )}
          {token && !done && (
            <form onSubmit={submit} noValidate>
              <p class="muted">Every signed-in session of the account ends when the password changes.</p>
              <label for="new-password">New password</label>
              <input
                id="new-password"
                ref={passwordInput}
                type="password"
                autocomplete="new-password"
                required
                value={password}
                aria-invalid={passwordError ? 'true' : undefined}
                aria-describedby={passwordError ? 'password-error' : undefined}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
              {passwordError && (
                <p id="password-error" class="error">
                  {passwordError}
                </p>
              )}
              <label for="repeat-password">Repeat the new password</label>
              <input
                id="repeat-password"
                ref={repeatInput}
                type="password"
                autocomplete="new-password"
                required
                value={repeat}
                aria-invalid={repeatError ? 'true' : undefined}
                aria-describedby={repeatError ? 'repeat-error' : undefined}
                onInput={(e) => setRepeat(e.currentTarget.value)}
              />
              {repeatError && (
                <p id="repeat-error" class="error">
                  {repeatError}
                </p>
              )}
              {error && (
                <p class="error" role="alert">
                  {error}
                </p>
              )}
              <button type="submit" class="primary" disabled={busy}>
                {busy ? 'Setting password…' : 'Set password'}
              </button>
            </form>
          )}
        </section>
      </main>
    </>
  );
}

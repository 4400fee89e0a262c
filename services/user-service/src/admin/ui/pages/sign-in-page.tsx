import { useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { NotSuperuserError, session } from '../auth-session';

/** Sign in with the API's own login (email or username and password); superusers only. */
export function SignInPage() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>(session.endedBecause);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.signIn(username.trim(), password);
    } catch (caught) {
      if (caught instanceof NotSuperuserError) setError(caught.message);
      else if (caught instanceof ApiError && caught.status === 401) setError('Wrong email, username or password.');
      else setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <form onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined}>
        <h1>user-service admin</h1>
        <p class="muted">Sign in as a superuser.</p>
        <label for="username">Email or username</label>
        <input
          id="username"
          name="username"
          autocomplete="username"
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {error && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

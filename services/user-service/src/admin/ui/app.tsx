import { useEffect, useState } from 'preact/hooks';
import { session } from './auth-session';
import { ConnectionBanner, reportIfTransient } from './connection-banner';
import { ApiKeysPage } from './pages/api-keys-page';
import { AuditPage } from './pages/audit-page';
import { ResetPasswordPage } from './pages/reset-password-page';
import { SignInPage } from './pages/sign-in-page';
import { UserPage } from './pages/user-page';
import { UsersPage } from './pages/users-page';
import { VerifyEmailPage } from './pages/verify-email-page';
import { onLinkClick, useLocation } from './router';

const USER_PATH = /^\/admin\/users\/([0-9a-fA-F-]{36})$/;

/** Re-renders on sign-in, sign-out and refresh. */
function useSession() {
  const [, setTick] = useState(0);
  useEffect(() => session.subscribe(() => setTick((n) => n + 1)), []);
  return session.user;
}

function Page({ path }: { path: string }) {
  const user = USER_PATH.exec(path);
  if (user?.[1]) return <UserPage id={user[1]} />;
  if (path === '/admin/api-keys') return <ApiKeysPage />;
  if (path === '/admin/audit') return <AuditPage />;
  if (path === '/admin' || path === '/admin/users') return <UsersPage />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        There is no console page at {path}. <a href="/admin">Users</a>
      </p>
    </>
  );
}

function NavLink({ href, path, children }: { href: string; path: string; children: string }) {
  const current = href === '/admin' ? path === '/admin' || path.startsWith('/admin/users') : path.startsWith(href);
  return (
    <a href={href} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}

/** Each page's own title (WCAG 2.4.2): what the tab, the history and a screen reader announce. */
function titleOf(path: string, signedIn: boolean): string {
  if (path === '/verify-email') return 'Verify your email';
  if (path === '/reset-password') return 'Choose a new password';
  if (!signedIn) return 'Sign in';
  if (USER_PATH.test(path)) return 'User';
  if (path === '/admin/api-keys') return 'API keys';
  if (path === '/admin/audit') return 'Audit log';
  if (path === '/admin' || path === '/admin/users') return 'Users';
  return 'Not found';
}

/** The console: the two public mail pages, else sign-in or the signed-in shell with its navigation. */
export function App() {
  const { path } = useLocation();
  const user = useSession();
  const [resuming, setResuming] = useState(true);

  useEffect(() => {
    const resume = () => {
      session
        .resume()
        .catch((error: unknown) => {
          reportIfTransient(error, resume);
        })
        .finally(() => setResuming(false));
    };
    resume();
  }, []);

  useEffect(() => {
    document.title = `${titleOf(path, user !== undefined)} · user-service admin`;
  }, [path, user]);

  if (path === '/verify-email') return <VerifyEmailPage />;
  if (path === '/reset-password') return <ResetPasswordPage />;
  if (resuming && !user) return <p class="boot">Loading…</p>;
  if (!user) {
    return (
      <>
        <ConnectionBanner />
        <SignInPage />
      </>
    );
  }
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: delegates clicks on the links inside to the router
    // biome-ignore lint/a11y/useKeyWithClickEvents: links get Enter from the browser as a click
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="Console">
          <span class="brand">user-service</span>
          <NavLink href="/admin" path={path}>
            Users
          </NavLink>
          <NavLink href="/admin/api-keys" path={path}>
            API keys
          </NavLink>
          <NavLink href="/admin/audit" path={path}>
            Audit log
          </NavLink>
        </nav>
        <div class="who">
          <span title="Signed in as">{user.email}</span>
          <button type="button" onClick={() => void session.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </div>
  );
}

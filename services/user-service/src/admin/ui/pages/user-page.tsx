import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { session } from '../auth-session';
import { ConfirmDialog } from '../components/confirm-dialog';
import { DateTime } from '../components/date-time';
import { InlineField } from '../components/inline-field';
import { reportIfTransient } from '../connection-banner';
import { navigate } from '../router';
import type { User } from '../types';
import { useResource } from '../use-resource';
import { UserAudit } from './user-audit';
import { UserPersonas } from './user-personas';
import { UserSessions } from './user-sessions';
import { announceOnUsersPage } from './users-page';

/** Moves the focus to the page's h1 once it is shown, so keyboard and screen-reader users know where they are. */
function useFocusedHeading(ready: boolean) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (ready) heading.current?.focus();
  }, [ready]);
  return heading;
}

/** One user: their fields edited in place, their state and role, and their personas, sessions and audit events. */
export function UserPage({ id }: { id: string }) {
  const resource = useResource((signal) => session.api<User>(`/users/${id}`, { signal }), [id]);
  const heading = useFocusedHeading(resource.error !== undefined);
  if (resource.error) {
    const missing = resource.error.status === 404;
    return (
      <section>
        <h1 ref={heading} tabIndex={-1}>
          {missing ? 'User not found' : 'User'}
        </h1>
        {missing ? (
          <p>
            There is no user with the id <code>{id}</code> (it may have been deleted).
          </p>
        ) : (
          <p class="error" role="alert">
            {resource.error.message}
          </p>
        )}
        <p>
          <a href="/admin">Back to Users</a>
        </p>
      </section>
    );
  }
  // The previous page's user stays in `resource` while this one loads: never show it under this id.
  if (!resource.data || resource.data.id !== id) return <p class="muted">Loading the user…</p>;
  // Keyed: another user's page starts with fresh state (no half-edited field carried over).
  return <UserView key={id} initial={resource.data} />;
}

type Action = 'active' | 'superuser' | 'sessions' | 'delete';

function UserView({ initial }: { initial: User }) {
  const [user, setUser] = useState(initial);
  const id = user.id;
  // One status line for the page: each confirmation replaces the last (keyed, so a repeat is said again).
  const [notice, setNotice] = useState<{ text: string; n: number }>();
  const announce = (text: string) => setNotice((old) => ({ text, n: (old?.n ?? 0) + 1 }));
  // Bumped after every change, so the sessions and audit sections show its effects.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);

  const [busy, setBusy] = useState<Action>();
  const [actionError, setActionError] = useState<string>();
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  // An action on one's own account that ends one's access to the console waits for a confirmation.
  const [confirmingSelf, setConfirmingSelf] = useState<{ message: string; label: string; go: () => void }>();
  const [deleteError, setDeleteError] = useState<string>();
  const heading = useFocusedHeading(true);

  const patch = async (body: Partial<User>) => {
    setUser(await session.api<User>(`/users/${id}`, { method: 'PATCH', body }));
    changed();
  };
  const saveField = (field: 'email' | 'username' | 'full_name') => async (value: string | null) => {
    await patch({ [field]: value });
    announce('Saved.');
  };

  const isMe = session.user?.id === id;
  const run = async (action: Action, work: () => Promise<string>, endsMyAccess = false) => {
    setBusy(action);
    setActionError(undefined);
    try {
      const said = await work();
      if (endsMyAccess) {
        setConfirmingSelf(undefined);
        await session.signOut(`${said} You no longer have access to the admin console.`);
        return;
      }
      announce(said);
      changed();
    } catch (error) {
      if (!reportIfTransient(error, () => void run(action, work))) {
        setActionError(error instanceof ApiError ? error.message : String(error));
      }
    } finally {
      setBusy(undefined);
    }
  };

  const toggleActive = (endsMyAccess = false) =>
    run(
      'active',
      async () => {
        const action = user.is_active ? 'deactivate' : 'activate';
        setUser(await session.api<User>(`/users/${id}/${action}`, { method: 'POST' }));
        return user.is_active ? `Deactivated ${user.email}.` : `Activated ${user.email}.`;
      },
      endsMyAccess,
    );
  const toggleSuperuser = (endsMyAccess = false) =>
    run(
      'superuser',
      async () => {
        await patch({ is_superuser: !user.is_superuser });
        return user.is_superuser ? 'Superuser role revoked.' : 'Superuser role granted.';
      },
      endsMyAccess,
    );
  const endSessions = (endsMyAccess = false) =>
    run(
      'sessions',
      async () => {
        await session.api(`/users/${id}/sessions`, { method: 'DELETE' });
        return `Ended every session of ${user.email}.`;
      },
      endsMyAccess,
    );
  /** Runs `go` at once, or, on one's own account, after a confirmation that says the console will be closed. */
  const guard = (label: string, what: string, go: (endsMyAccess: boolean) => Promise<void>) => () => {
    if (!isMe) return void go(false);
    setConfirmingSelf({
      label,
      message: `${what} This is your own account: you will be signed out and lose access to the admin console.`,
      go: () => void go(true),
    });
  };
  const deleteUser = async () => {
    setBusy('delete');
    setDeleteError(undefined);
    try {
      await session.api(`/users/${id}`, { method: 'DELETE' });
      announceOnUsersPage(`Deleted ${user.email}.`);
      navigate('/admin');
    } catch (error) {
      if (!reportIfTransient(error, () => void deleteUser())) {
        setDeleteError(error instanceof ApiError ? error.message : String(error));
      }
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <article class="user-page">
      <h1 ref={heading} tabIndex={-1} class="user-title">
        {user.email}
      </h1>
      <p class="badges">
        <span class={user.is_active ? 'badge on' : 'badge off'}>{user.is_active ? 'Active' : 'Inactive'}</span>
        {user.is_superuser && <span class="badge">Superuser</span>}
        <span class={user.is_verified ? 'badge on' : 'badge'}>{user.is_verified ? 'Verified' : 'Unverified'}</span>
        {isMe && <span class="muted">(you)</span>}
      </p>
      <p role="status" class="notice">
        {notice && <span key={notice.n}>{notice.text}</span>}
      </p>

      <div class="user-fields">
        <InlineField field="email" label="Email" type="email" value={user.email} save={saveField('email')} />
        <InlineField field="username" label="Username" value={user.username} nullable save={saveField('username')} />
        <InlineField
          field="full_name"
          label="Full name"
          value={user.full_name}
          nullable
          save={saveField('full_name')}
        />
        <dl class="facts">
          <dt>Id</dt>
          <dd class="mono">{user.id}</dd>
          <dt>Created</dt>
          <dd>
            <DateTime iso={user.created_at} />
          </dd>
          <dt>Updated</dt>
          <dd>
            <DateTime iso={user.updated_at} />
          </dd>
        </dl>
      </div>

      <div class="actions">
        <button
          type="button"
          disabled={busy !== undefined}
          onClick={
            user.is_active
              ? guard('Deactivate my account', 'Deactivate your account?', toggleActive)
              : () => toggleActive()
          }
        >
          {user.is_active ? 'Deactivate' : 'Activate'}
        </button>
        <button
          type="button"
          disabled={busy !== undefined}
          onClick={
            user.is_superuser
              ? guard('Revoke my superuser role', 'Revoke your own superuser role?', toggleSuperuser)
              : () => toggleSuperuser()
          }
        >
          {user.is_superuser ? 'Revoke superuser' : 'Grant superuser'}
        </button>
        <button
          type="button"
          disabled={busy !== undefined}
          onClick={guard('End all my sessions', 'End every one of your sessions, this one too?', endSessions)}
        >
          End all sessions
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy !== undefined}
          onClick={() => {
            setDeleteError(undefined);
            setConfirmingDelete(true);
          }}
        >
          Delete user
        </button>
      </div>
      {actionError && (
        <p id="actions-error" class="error" role="alert">
          {actionError}
        </p>
      )}
      {confirmingSelf && (
        <ConfirmDialog
          message={confirmingSelf.message}
          confirmLabel={confirmingSelf.label}
          busy={busy !== undefined}
          error={actionError}
          onConfirm={confirmingSelf.go}
          onCancel={() => setConfirmingSelf(undefined)}
        />
      )}
      {confirmingDelete && (
        <ConfirmDialog
          message={`Delete ${user.email}? This cannot be undone.`}
          confirmLabel={`Delete ${user.email}`}
          busy={busy === 'delete'}
          error={deleteError}
          onConfirm={() => void deleteUser()}
          onCancel={() => setConfirmingDelete(false)}
        />
      )}

      <UserPersonas userId={id} announce={announce} changed={changed} />
      <UserSessions userId={id} version={version} announce={announce} changed={changed} />
      <UserAudit userId={id} version={version} />
    </article>
  );
}

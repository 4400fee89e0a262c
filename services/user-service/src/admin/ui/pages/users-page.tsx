import { useEffect, useRef, useState } from 'preact/hooks';
import { session } from '../auth-session';
import { DateTime } from '../components/date-time';
import { navigate, useLocation } from '../router';
import type { User, UserList } from '../types';
import { useResource } from '../use-resource';
import { apiQueryOf, DEFAULT_SORT, filtersOf, pathOf, SORTS, type UsersFilters } from './users-query';

const PAGE_SIZE = 50;
const TYPING_PAUSE_MS = 250;

/** A message for the next visit of this page ("Deleted ada@example.com."), said once in its status line. */
let pendingNotice: string | undefined;
export function announceOnUsersPage(message: string): void {
  pendingNotice = message;
}

const count = new Intl.NumberFormat();

/** "10,001 users", "100+ users" when the API stopped counting, "No users match." */
function totalText(list: UserList): string {
  if (list.total === 0) return 'No users match.';
  if (list.total_capped) return `${count.format(list.total)}+ users`;
  return `${count.format(list.total)} ${list.total === 1 ? 'user' : 'users'}`;
}

/** Yes/No in words (not colour alone); `warn` marks a "No" that needs attention (an inactive account). */
function Flag({ on, warn = false }: { on: boolean; warn?: boolean }) {
  return <span class={on ? 'badge on' : warn ? 'badge off' : 'badge'}>{on ? 'Yes' : 'No'}</span>;
}

function Row({ user }: { user: User }) {
  return (
    <tr>
      <td>
        <a href={`/admin/users/${user.id}`} class="cell-email">
          {user.email}
        </a>
      </td>
      <td class="wide">{user.username ?? <span class="muted">—</span>}</td>
      <td class="wide">{user.full_name ?? <span class="muted">—</span>}</td>
      <td>
        <Flag on={user.is_active} warn />
      </td>
      <td>
        <Flag on={user.is_superuser} />
      </td>
      <td class="wide">
        <Flag on={user.is_verified} />
      </td>
      <td class="wide">
        <DateTime iso={user.created_at} />
      </td>
    </tr>
  );
}

function TriSelect(props: {
  id: string;
  label: string;
  value: string;
  yes: string;
  no: string;
  onChange: (value: string) => void;
}) {
  return (
    <div>
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">Any</option>
        <option value="true">{props.yes}</option>
        <option value="false">{props.no}</option>
      </select>
    </div>
  );
}

/**
 * Every user, 50 a page, searched as one types and filtered; the filters live in the address bar. Pages go by
 * the API's keyset cursor only: "Next page" passes next_cursor as `after`, "Previous page" goes back through
 * the cursors already seen, so no page is ever an OFFSET deep into a big table.
 */
export function UsersPage() {
  const { query } = useLocation();
  const filters = filtersOf(query);
  const key = pathOf(filters);
  const searching = filters.q.trim() !== '';

  // The search box shows what is typed at once; the address bar (and the request) follow after a pause.
  const [text, setText] = useState(filters.q);
  const written = useRef(filters.q);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    // The address changed from elsewhere (the Users link, back/forward): the box shows its q.
    if (filters.q !== written.current) {
      written.current = filters.q;
      setText(filters.q);
    }
  }, [filters.q]);
  useEffect(() => () => clearTimeout(timer.current), []);

  const apply = (next: UsersFilters) => {
    clearTimeout(timer.current);
    written.current = next.q.trim();
    setNotice(undefined);
    // Replace, not push: the list one is looking at is one history entry, however many keys were typed.
    navigate(pathOf(next), true);
  };
  const change = (field: keyof UsersFilters, value: string) => apply({ ...filters, q: text, [field]: value });
  const type = (value: string) => {
    setText(value);
    clearTimeout(timer.current);
    timer.current = setTimeout(
      () => apply({ ...filtersOf(new URLSearchParams(location.search)), q: value }),
      TYPING_PAUSE_MS,
    );
  };

  // The cursors of the pages before this one; a new filter starts again at the first page.
  const [paging, setPaging] = useState<{ key: string; cursors: string[] }>({ key, cursors: [] });
  const cursors = paging.key === key ? paging.cursors : [];
  const after = cursors[cursors.length - 1];

  const [notice, setNotice] = useState<string | undefined>(() => {
    const message = pendingNotice;
    pendingNotice = undefined;
    return message;
  });

  const list = useResource(
    (signal) => session.api<UserList>('/users', { query: { ...apiQueryOf(filters), limit: PAGE_SIZE, after }, signal }),
    [key, after],
  );

  // A notice ("Deleted …") is about the moment it was said; turning a page moves on from it.
  const turn = (to: string[]) => {
    setNotice(undefined);
    setPaging({ key, cursors: to });
  };

  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);

  const data = list.data;
  const next = data?.next_cursor ?? null;
  return (
    <section class="users-page" aria-busy={list.loading}>
      <h1 ref={heading} tabIndex={-1}>
        Users
      </h1>
      <form
        class="toolbar users-filters"
        aria-label="Filters"
        onSubmit={(event) => {
          event.preventDefault();
          apply({ ...filters, q: text });
        }}
      >
        <div class="search">
          <label for="users-search">Search</label>
          <input
            id="users-search"
            class="search-input"
            type="search"
            value={text}
            placeholder="Email, username or name"
            autocomplete="off"
            maxLength={255}
            onInput={(event) => type(event.currentTarget.value)}
          />
        </div>
        <TriSelect
          id="filter-active"
          label="Active"
          value={filters.active}
          yes="Active"
          no="Inactive"
          onChange={(v) => change('active', v)}
        />
        <TriSelect
          id="filter-superuser"
          label="Superuser"
          value={filters.superuser}
          yes="Yes"
          no="No"
          onChange={(v) => change('superuser', v)}
        />
        <TriSelect
          id="filter-verified"
          label="Verified"
          value={filters.verified}
          yes="Yes"
          no="No"
          onChange={(v) => change('verified', v)}
        />
        <div>
          <label for="filter-from">Created from</label>
          <input
            id="filter-from"
            type="date"
            value={filters.from}
            max={filters.until || undefined}
            onChange={(e) => change('from', e.currentTarget.value)}
          />
        </div>
        <div>
          <label for="filter-until">Created until</label>
          <input
            id="filter-until"
            type="date"
            value={filters.until}
            min={filters.from || undefined}
            onChange={(e) => change('until', e.currentTarget.value)}
          />
        </div>
        <div>
          <label for="users-sort">Sort</label>
          {/* Search results come newest first (users-query.ts apiQueryOf says why). */}
          <select
            id="users-sort"
            value={searching ? DEFAULT_SORT : filters.sort}
            disabled={searching}
            aria-describedby={searching ? 'users-sort-hint' : undefined}
            onChange={(e) => change('sort', e.currentTarget.value)}
          >
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
          {searching && (
            <p id="users-sort-hint" class="muted">
              Search results: newest first
            </p>
          )}
        </div>
      </form>

      <p role="status" class="total">
        {notice && <span class="notice">{notice} </span>}
        {data ? totalText(data) : list.loading ? 'Loading users…' : ''}
      </p>
      {list.error && (
        <p class="error" role="alert">
          {list.error.message}
        </p>
      )}

      <div class="table-wrap">
        <table aria-label="Users" class="users-table">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col" class="wide">
                Username
              </th>
              <th scope="col" class="wide">
                Full name
              </th>
              <th scope="col">Active</th>
              <th scope="col">Superuser</th>
              <th scope="col" class="wide">
                Verified
              </th>
              <th scope="col" class="wide">
                Created
              </th>
            </tr>
          </thead>
          <tbody>
            {data?.users.map((user) => (
              <Row key={user.id} user={user} />
            ))}
          </tbody>
        </table>
      </div>

      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => turn([])}>
          First page
        </button>
        <button type="button" disabled={cursors.length === 0} onClick={() => turn(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={!next || list.loading} onClick={() => next && turn([...cursors, next])}>
          Next page
        </button>
        <span class="muted">Page {count.format(cursors.length + 1)}</span>
      </nav>
    </section>
  );
}

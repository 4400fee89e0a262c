/**
 * The users page's filters as the address bar holds them (/admin?q=ada&active=true&sort=email) and as the API
 * takes them (GET /api/v1/users?q=ada&is_active=true&sort=email). The address bar is the one source of truth:
 * a reload, a bookmark or the back button shows the same list.
 */

export interface UsersFilters {
  q: string;
  /** '' any, 'true', 'false'. */
  active: string;
  superuser: string;
  verified: string;
  /** Dates as <input type="date"> gives them: YYYY-MM-DD, in the reader's own time zone. */
  from: string;
  until: string;
  sort: string;
}

export const DEFAULT_SORT = '-created_at';

/**
 * The orders an index serves (ix_users_created_at, uq_users_email), so every page of every order stays a few
 * milliseconds at 1M users. The API sorts by full name and username too, but those columns may be empty and
 * sort empty-last, which no index serves: at 1M users on SQLite each such page sorted the table (about 290 ms,
 * 1.2 s with a search term), holding the event loop meanwhile.
 */
export const SORTS: readonly { value: string; label: string }[] = [
  { value: '-created_at', label: 'Newest first' },
  { value: 'created_at', label: 'Oldest first' },
  { value: 'email', label: 'Email A-Z' },
  { value: '-email', label: 'Email Z-A' },
];

const TRI_STATE = new Set(['', 'true', 'false']);
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The filters in the address bar; anything malformed there (a hand-edited URL) reads as "no filter". */
export function filtersOf(query: URLSearchParams): UsersFilters {
  const tri = (name: string) => {
    const value = query.get(name) ?? '';
    return TRI_STATE.has(value) ? value : '';
  };
  const date = (name: string) => {
    const value = query.get(name) ?? '';
    return DATE.test(value) ? value : '';
  };
  const sort = query.get('sort') ?? '';
  return {
    q: query.get('q') ?? '',
    active: tri('active'),
    superuser: tri('superuser'),
    verified: tri('verified'),
    from: date('from'),
    until: date('until'),
    sort: SORTS.some((s) => s.value === sort) ? sort : DEFAULT_SORT,
  };
}

/** The console address for these filters; defaults are left out so the plain list is plain /admin. */
export function pathOf(filters: UsersFilters): string {
  const params = new URLSearchParams();
  const q = filters.q.trim();
  if (q) params.set('q', q);
  if (filters.active) params.set('active', filters.active);
  if (filters.superuser) params.set('superuser', filters.superuser);
  if (filters.verified) params.set('verified', filters.verified);
  if (filters.from) params.set('from', filters.from);
  if (filters.until) params.set('until', filters.until);
  if (filters.sort !== DEFAULT_SORT) params.set('sort', filters.sort);
  const search = params.toString();
  return search ? `/admin?${search}` : '/admin';
}

/** Local midnight of a YYYY-MM-DD day, plus `days`, as the ISO instant the API compares with. */
function startOfDay(day: string, days = 0): string | undefined {
  const [y, m, d] = day.split('-').map(Number);
  if (!y || !m || !d) return undefined;
  const date = new Date(y, m - 1, d + days);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * The API's query for these filters. "Created until" includes that whole day, so the bound is the next day's
 * local midnight; both bounds are the reader's days, not UTC ones.
 */
export function apiQueryOf(filters: UsersFilters): Record<string, string | undefined> {
  return {
    q: filters.q.trim() || undefined,
    is_active: filters.active || undefined,
    is_superuser: filters.superuser || undefined,
    is_verified: filters.verified || undefined,
    created_after: filters.from ? startOfDay(filters.from) : undefined,
    created_before: filters.until ? startOfDay(filters.until, 1) : undefined,
    // A search is shown newest first: in that order the scan behind a common term stops once the page is full,
    // while in email order it may read a large part of the table first (0.35 s for "ann" at 1M users on SQLite,
    // more for terms that are common but sparse in that order), holding SQLite's event loop meanwhile.
    sort: filters.q.trim() ? DEFAULT_SORT : filters.sort,
  };
}

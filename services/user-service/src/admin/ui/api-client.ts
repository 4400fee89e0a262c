/**
 * The console's only way to the service: fetch against the same /api/v1 endpoints every client uses, with the
 * signed-in user's bearer token (auth-session.ts). Every failure becomes an ApiError the pages can show: the
 * API's {"detail": ...} text, the 422's field messages keyed by field name, and status 0 for a lost connection.
 */

export interface FieldErrors {
  [field: string]: string;
}

export class ApiError extends Error {
  constructor(
    /** The HTTP status; 0 when no answer came (network down, server gone). */
    readonly status: number,
    message: string,
    /** 422: the message for each field named by a `loc` (body/query/path field), e.g. { email: '...' }. */
    readonly fields: FieldErrors = {},
    /** Seconds from Retry-After (503, 429), when given. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** A fault of the connection or the service, not of what was asked: worth a retry banner. */
  get transient(): boolean {
    return this.status === 0 || this.status === 503 || this.status === 502 || this.status === 504;
  }
}

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

async function errorOf(response: Response): Promise<ApiError> {
  const retry = Number(response.headers.get('retry-after'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  let body: { detail?: unknown } = {};
  try {
    body = (await response.json()) as { detail?: unknown };
  } catch {}
  const detail = body.detail;
  if (Array.isArray(detail)) {
    const fields: FieldErrors = {};
    const messages: string[] = [];
    for (const item of detail as ValidationItem[]) {
      const loc = item.loc ?? [];
      const field = loc.length > 1 ? String(loc[loc.length - 1]) : undefined;
      const msg = item.msg ?? 'Invalid value';
      if (field && !(field in fields)) fields[field] = msg;
      messages.push(field ? `${field}: ${msg}` : msg);
    }
    return new ApiError(response.status, messages.join('; ') || 'Invalid input', fields, retryAfter);
  }
  const text = typeof detail === 'string' ? detail : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, describe(response.status, text), {}, retryAfter);
}

/** The API's words, with the status said plainly where the words alone would be terse. */
function describe(status: number, detail: string): string {
  if (status === 409) return `Conflict: ${detail}`;
  if (status === 503) return `The service is unavailable right now (${detail})`;
  if (status === 429) return `Too many requests: ${detail}`;
  return detail;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Query parameters; undefined and '' values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** The bearer token; none for the public endpoints (login, refresh, verify, reset). */
  token?: string | undefined;
  signal?: AbortSignal;
}

export function urlOf(path: string, query?: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const search = params.toString();
  return `/api/v1${path}${search ? `?${search}` : ''}`;
}

/** One request; resolves with the parsed JSON (undefined for 204), rejects with an ApiError. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(urlOf(path, options.query), {
      method: options.method ?? 'GET',
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'The connection to the service was lost');
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

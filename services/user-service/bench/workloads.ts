/**
 * The service workloads of issue 4, each a request generator over the pre-loaded sample, and the limit each is
 * compared with. Limits: `http-user`/`http-page` (bare Fastify, same JSON), `db-*` (the driver alone, same
 * SQL), `hasher` (argon2id on every core).
 */
import { randomBytes } from 'node:crypto';
import { FIRST_NAMES, LAST_NAMES, SEED_PASSWORD } from '../src/cli/seed.command.js';
import type { NextRequest } from './load.js';
import { pickFrom, type Sample } from './sample.js';

export type WorkloadName =
  | 'get-by-id'
  | 'get-by-email'
  | 'list-offset-shallow'
  | 'list-offset-deep'
  | 'list-cursor'
  | 'search'
  | 'create'
  | 'update'
  // Issue 13: a seeded user signing in (argon2id verify, a session written, tokens signed).
  | 'login'
  // Issue 9's measurement of what credentials cost, next to get-by-id with the bench's main credentials.
  | 'get-by-id-open'
  | 'get-by-email-open'
  | 'get-by-id-bearer'
  | 'get-by-id-api-key';

/**
 * What a workload's requests carry. `bearer`: a superuser's access token on an AUTH_REQUIRED=true service (one
 * JWT verify and two primary-key reads per request); `api-key`: an API key (one indexed read); `none`: no
 * credentials, on an AUTH_REQUIRED=false service.
 */
export type Credential = 'bearer' | 'api-key' | 'none';

export type HttpLimitName = 'http-user' | 'http-page';
export type DbQuery = 'by-id' | 'by-email' | 'list-shallow' | 'list-deep' | 'list-cursor' | 'update';
export type LimitName = HttpLimitName | `db-${DbQuery}` | 'hasher';

export interface Workload {
  name: WorkloadName;
  label: string;
  credential: Credential;
  next: NextRequest;
  /** What the throughput is compared with: one limit, or the combined limit 1/(1/http + 1/db). */
  limit: { http?: HttpLimitName; db?: DbQuery; hasher?: true };
}

const API = '/api/v1';
/** Deep offsets are drawn from the last 10% of the table. */
export const deepSkip = (total: number) => Math.floor(total * 0.9) + Math.floor(Math.random() * (total * 0.1 - 20));
export const shallowSkip = () => Math.floor(Math.random() * 100);

let createCounter = 0;
const runTag = randomBytes(3).toString('hex');

export const NEXT: Record<WorkloadName, (s: Sample) => NextRequest> = {
  'get-by-id': (s) => () => ({ method: 'GET', path: `${API}/users/${pickFrom(s.ids)}` }),
  'get-by-email': (s) => () => ({
    method: 'GET',
    path: `${API}/users/email/${encodeURIComponent(pickFrom(s.emails))}`,
  }),
  'list-offset-shallow': () => () => ({ method: 'GET', path: `${API}/users?limit=20&skip=${shallowSkip()}` }),
  'list-offset-deep': (s) => () => ({ method: 'GET', path: `${API}/users?limit=20&skip=${deepSkip(s.total)}` }),
  'list-cursor': (s) => () => ({ method: 'GET', path: `${API}/users?limit=20&after=${pickFrom(s.cursors)}` }),
  search: (s) => () => ({ method: 'GET', path: `${API}/users/search?q=${pickFrom(s.searchTerms)}&limit=20` }),
  create: () => () => {
    const n = ++createCounter;
    const first = pickFrom(FIRST_NAMES);
    const last = pickFrom(LAST_NAMES);
    return {
      method: 'POST',
      path: `${API}/users`,
      body: JSON.stringify({
        email: `${first}.${last}.load-${runTag}-${n}@example.com`.toLowerCase(),
        password: 'load-test-password',
        full_name: `${first} ${last}`,
      }),
    };
  },
  update: (s) => () => ({
    method: 'PATCH',
    path: `${API}/users/${pickFrom(s.ids)}`,
    body: JSON.stringify({ full_name: `${pickFrom(FIRST_NAMES)} ${pickFrom(LAST_NAMES)}` }),
  }),
  login: (s) => () => ({
    method: 'POST',
    path: `${API}/auth/login`,
    body: JSON.stringify({ username: pickFrom(s.emails), password: SEED_PASSWORD }),
  }),
  'get-by-id-open': (s) => NEXT['get-by-id'](s),
  'get-by-email-open': (s) => NEXT['get-by-email'](s),
  'get-by-id-bearer': (s) => NEXT['get-by-id'](s),
  'get-by-id-api-key': (s) => NEXT['get-by-id'](s),
};

const LIMITS: Record<WorkloadName, Workload['limit']> = {
  'get-by-id': { http: 'http-user', db: 'by-id' },
  'get-by-email': { http: 'http-user', db: 'by-email' },
  'list-offset-shallow': { http: 'http-page', db: 'list-shallow' },
  'list-offset-deep': { http: 'http-page', db: 'list-deep' },
  'list-cursor': { http: 'http-page', db: 'list-cursor' },
  search: { http: 'http-page' },
  create: { hasher: true },
  update: { http: 'http-user', db: 'update' },
  login: { hasher: true },
  'get-by-id-open': { http: 'http-user', db: 'by-id' },
  'get-by-email-open': { http: 'http-user', db: 'by-email' },
  'get-by-id-bearer': { http: 'http-user', db: 'by-id' },
  'get-by-id-api-key': { http: 'http-user', db: 'by-id' },
};

export const LABELS: Record<WorkloadName, string> = {
  'get-by-id': 'get by id',
  'get-by-email': 'get by email',
  'list-offset-shallow': 'list, offset 0-100',
  'list-offset-deep': 'list, offset in last 10%',
  'list-cursor': 'list, cursor',
  search: 'search (3-4 chars)',
  create: 'create (argon2id)',
  update: 'update (PATCH full_name)',
  login: 'login (argon2id verify)',
  'get-by-id-open': 'get by id, AUTH_REQUIRED=false',
  'get-by-email-open': 'get by email, AUTH_REQUIRED=false',
  'get-by-id-bearer': 'get by id, bearer token',
  'get-by-id-api-key': 'get by id, API key',
};

/** The workloads of issue 4, measured with the bench's main credentials (--auth). */
export const MAIN_WORKLOADS: WorkloadName[] = [
  'get-by-id',
  'get-by-email',
  'list-offset-shallow',
  'list-offset-deep',
  'list-cursor',
  'search',
  'create',
  'update',
  'login',
];

/**
 * The bench's main credential, per workload, for `--auth required` (the default): every workload of issue 4 is
 * measured as a deployment serves it, with a superuser's bearer token (superuser: the only user the policy lets
 * list, search, create and update any user; an API key would do for services, and is measured on get-by-id).
 * - Lists, search, update and create: the credential check (a JWT verify and two primary-key reads) is small
 *   next to a page query, a write or an argon2id hash, so the figures stay comparable with the
 *   unauthenticated ones of before issue 9, and the difference is the true cost of signing in.
 * - Get by id and by email: the check triples the database work of a one-row read, so these figures alone
 *   would no longer compare with the limits (the bare HTTP server and the driver alone run no check) nor with
 *   the history. They are therefore also measured with AUTH_REQUIRED=false (`*-open`): issue 4's targets and
 *   the history use those, and get-by-id with bearer / API key / open is issue 9's measurement.
 * `--auth off` runs every workload of issue 4 on an AUTH_REQUIRED=false service without credentials (the
 * historical setup); bearer and API-key get-by-id still run, for issue 9's ratios.
 */
export function workloadNames(auth: 'required' | 'off'): WorkloadName[] {
  return auth === 'required'
    ? [...MAIN_WORKLOADS, 'get-by-id-open', 'get-by-email-open', 'get-by-id-api-key']
    : [...MAIN_WORKLOADS, 'get-by-id-bearer', 'get-by-id-api-key'];
}

export function credentialOf(name: WorkloadName, auth: 'required' | 'off'): Credential {
  if (name === 'get-by-id-open' || name === 'get-by-email-open') return 'none';
  if (name === 'get-by-id-bearer') return 'bearer';
  if (name === 'get-by-id-api-key') return 'api-key';
  return auth === 'required' ? 'bearer' : 'none';
}

export function workload(name: WorkloadName, sample: Sample, auth: 'required' | 'off'): Workload {
  return {
    name,
    label: LABELS[name],
    credential: credentialOf(name, auth),
    next: NEXT[name](sample),
    limit: LIMITS[name],
  };
}

/**
 * Issue 13's mixed workload, one request drawn per send: 80% reads (half by id, half by email), 10% list pages
 * (half offset 0-100, half cursor), 5% search, 4% update (PATCH full_name), 1% login (argon2id verify).
 */
export const MIXED_SHARES = { read: 0.8, list: 0.1, search: 0.05, update: 0.04, login: 0.01 } as const;

export function mixedNext(s: Sample): NextRequest {
  const byId = NEXT['get-by-id'](s);
  const byEmail = NEXT['get-by-email'](s);
  const shallow = NEXT['list-offset-shallow'](s);
  const cursor = NEXT['list-cursor'](s);
  const search = NEXT.search(s);
  const update = NEXT.update(s);
  const login = NEXT.login(s);
  const m = MIXED_SHARES;
  return () => {
    let r = Math.random();
    if (r < m.read) return r < m.read / 2 ? byId() : byEmail();
    r -= m.read;
    if (r < m.list) return r < m.list / 2 ? shallow() : cursor();
    r -= m.list;
    if (r < m.search) return search();
    r -= m.search;
    return r < m.update ? update() : login();
  };
}

/** Requests for the bare HTTP server: the same paths as the service's, so routing and parsing match. */
export function httpLimitRequests(sample: Sample): Record<HttpLimitName, NextRequest> {
  return { 'http-user': NEXT['get-by-id'](sample), 'http-page': NEXT['list-offset-shallow'](sample) };
}

/**
 * The service workloads of issue 4, each a request generator over the pre-loaded sample, and the limit each is
 * compared with. Limits: `http-user`/`http-page` (bare Fastify, same JSON), `db-*` (the driver alone, same
 * SQL), `hasher` (argon2id on every core).
 */
import { randomBytes } from 'node:crypto';
import { FIRST_NAMES, LAST_NAMES } from '../src/cli/seed.command.js';
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
  | 'update';

export type HttpLimitName = 'http-user' | 'http-page';
export type DbQuery = 'by-id' | 'by-email' | 'list-shallow' | 'list-deep' | 'list-cursor';
export type LimitName = HttpLimitName | `db-${DbQuery}` | 'hasher';

export interface Workload {
  name: WorkloadName;
  label: string;
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
};

const LIMITS: Record<WorkloadName, Workload['limit']> = {
  'get-by-id': { http: 'http-user', db: 'by-id' },
  'get-by-email': { http: 'http-user', db: 'by-email' },
  'list-offset-shallow': { http: 'http-page', db: 'list-shallow' },
  'list-offset-deep': { http: 'http-page', db: 'list-deep' },
  'list-cursor': { http: 'http-page', db: 'list-cursor' },
  search: { http: 'http-page' },
  create: { hasher: true },
  update: { http: 'http-user' },
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
};

export const WORKLOAD_NAMES = Object.keys(LIMITS) as WorkloadName[];

export function workload(name: WorkloadName, sample: Sample): Workload {
  return { name, label: LABELS[name], next: NEXT[name](sample), limit: LIMITS[name] };
}

/** Requests for the bare HTTP server: the same paths as the service's, so routing and parsing match. */
export function httpLimitRequests(sample: Sample): Record<HttpLimitName, NextRequest> {
  return { 'http-user': NEXT['get-by-id'](sample), 'http-page': NEXT['list-offset-shallow'](sample) };
}

import type { Scope } from './principal.js';

/**
 * Who may call what: the one table that decides, keyed by method and route template. A route missing from it
 * stops the service at start (access/access-control.ts checks every route as it is registered), so nothing is
 * reachable by accident; a request that matches no route is refused to anonymous callers (401) before it can
 * tell them which paths exist.
 *
 * - public: anyone, credentials not even looked at.
 * - registration: anyone while REGISTRATION=open; 403 when closed.
 * - user: a signed-in active user (a session's access token). API keys act for no user: 403.
 * - owner: the user named by the route's `param` themself, a superuser, or an API key with `scope`. Another
 *   user gets 404, as if the resource did not exist.
 * - admin: a superuser, or an API key with `scope`. Other users: 403.
 * - superuser: a superuser only (API keys cannot manage API keys).
 * - metrics: METRICS_TOKEN as a bearer token, and nothing else (no user or API key); refused when it is unset.
 *
 * `open: true` marks the predecessors' routes: with AUTH_REQUIRED=false they admit anonymous callers again.
 */
export type Rule =
  | { access: 'public' }
  | { access: 'registration' }
  | { access: 'user' }
  | { access: 'owner'; param: string; scope: Scope; open: true }
  | { access: 'admin'; scope: Scope; open: true }
  | { access: 'superuser' }
  | { access: 'metrics' };

const PUBLIC: Rule = { access: 'public' };
const USER: Rule = { access: 'user' };
const SUPERUSER: Rule = { access: 'superuser' };
const admin = (scope: Scope): Rule => ({ access: 'admin', scope, open: true });
const owner = (param: string, scope: Scope): Rule => ({ access: 'owner', param, scope, open: true });

const API = '/api/v1';

/** `METHOD /route/template` -> rule. Every route of the service is here. */
export const POLICY: Readonly<Record<string, Rule>> = {
  // Documentation, health and the keys other services verify tokens with.
  'GET /openapi.json': PUBLIC,
  'GET /health': PUBLIC,
  'GET /health/ready': PUBLIC,
  'GET /.well-known/jwks.json': PUBLIC,
  // The admin console (admin/admin-console.routes.ts): its one page, client-side paths and hashed assets. They
  // hold no data: what the console shows it asks /api/v1 for with the signed-in user's token, under the rules
  // below. Listed one by one, not as a prefix, so a route added under /admin later is refused until it has a rule.
  'GET /admin': PUBLIC,
  'GET /admin/*': PUBLIC,
  'GET /admin/assets/*': PUBLIC,
  'HEAD /admin/assets/*': PUBLIC,
  // Where the links in the verification and reset mails land: console pages that post the token to /auth/*.
  'GET /verify-email': PUBLIC,
  'GET /reset-password': PUBLIC,
  // Prometheus' scrape (registered only when METRICS_TOKEN is set).
  'GET /metrics': { access: 'metrics' },

  // Signing in and out.
  [`POST ${API}/auth/register`]: { access: 'registration' },
  [`POST ${API}/auth/login`]: PUBLIC,
  [`POST ${API}/auth/refresh`]: PUBLIC,
  [`POST ${API}/auth/logout`]: USER,
  [`GET ${API}/auth/me`]: USER,
  [`POST ${API}/auth/password`]: USER,
  [`GET ${API}/auth/sessions`]: USER,
  [`DELETE ${API}/auth/sessions/:session_id`]: USER,
  // Email verification and password reset: the token from the mail is the credential.
  [`POST ${API}/auth/request-verify-token`]: PUBLIC,
  [`POST ${API}/auth/verify`]: PUBLIC,
  [`POST ${API}/auth/forgot-password`]: PUBLIC,
  [`POST ${API}/auth/reset-password`]: PUBLIC,

  // The signed-in user's own account and personas.
  [`GET ${API}/users/me`]: USER,
  [`PATCH ${API}/users/me`]: USER,
  [`DELETE ${API}/users/me`]: USER,
  [`GET ${API}/users/me/personas`]: USER,
  [`POST ${API}/users/me/personas`]: USER,
  [`GET ${API}/users/me/personas/:persona_id`]: USER,
  [`PUT ${API}/users/me/personas/:persona_id`]: USER,
  [`PATCH ${API}/users/me/personas/:persona_id`]: USER,
  [`DELETE ${API}/users/me/personas/:persona_id`]: USER,
  // The security events of one's own account (sign-ins, passwords, sessions).
  [`GET ${API}/users/me/audit-events`]: USER,

  // Users: administration, except reading one's own record.
  [`POST ${API}/users`]: admin('users:write'),
  [`GET ${API}/users`]: admin('users:read'),
  [`GET ${API}/users/search`]: admin('users:read'),
  [`GET ${API}/users/count`]: admin('users:read'),
  [`GET ${API}/users/email/:email`]: admin('users:read'),
  [`GET ${API}/users/by_username/:username`]: admin('users:read'),
  [`GET ${API}/users/:id`]: owner('id', 'users:read'),
  [`HEAD ${API}/users/:id`]: owner('id', 'users:read'),
  [`PUT ${API}/users/:id`]: admin('users:write'),
  [`PATCH ${API}/users/:id`]: admin('users:write'),
  [`POST ${API}/users/:id/activate`]: admin('users:write'),
  [`POST ${API}/users/:id/deactivate`]: admin('users:write'),
  [`DELETE ${API}/users/:id`]: admin('users:write'),
  // A user's sessions: superusers only (they show where and from what a user signs in).
  [`GET ${API}/users/:id/sessions`]: SUPERUSER,
  [`DELETE ${API}/users/:id/sessions`]: SUPERUSER,
  [`DELETE ${API}/users/:id/sessions/:session_id`]: SUPERUSER,

  // Personas under a user id: the user themself, a superuser, or a key with the personas scope.
  [`POST ${API}/users/:user_id/personas`]: owner('user_id', 'personas:write'),
  [`GET ${API}/users/:user_id/personas`]: owner('user_id', 'personas:read'),
  [`GET ${API}/users/:user_id/personas/:persona_id`]: owner('user_id', 'personas:read'),
  [`PUT ${API}/users/:user_id/personas/:persona_id`]: owner('user_id', 'personas:write'),
  [`PATCH ${API}/users/:user_id/personas/:persona_id`]: owner('user_id', 'personas:write'),
  [`DELETE ${API}/users/:user_id/personas/:persona_id`]: owner('user_id', 'personas:write'),

  // API keys: superusers only.
  [`POST ${API}/api-keys`]: SUPERUSER,
  [`GET ${API}/api-keys`]: SUPERUSER,
  [`GET ${API}/api-keys/:id`]: SUPERUSER,
  [`DELETE ${API}/api-keys/:id`]: SUPERUSER,

  // The audit log: superusers only (API keys have no audit scope; the log shows where everyone signs in from).
  [`GET ${API}/audit-events`]: SUPERUSER,
};

/** Swagger UI's own pages and assets (registered by @fastify/swagger-ui under /docs): public, as the document is. */
const PUBLIC_PREFIXES = ['/docs'];

/** The rule for a route, or undefined when the table has none (the service refuses to start then). */
export function ruleFor(method: string, url: string): Rule | undefined {
  const rule = POLICY[`${method} ${url}`];
  if (rule) return rule;
  if (PUBLIC_PREFIXES.some((prefix) => url === prefix || url.startsWith(`${prefix}/`))) return PUBLIC;
  return undefined;
}

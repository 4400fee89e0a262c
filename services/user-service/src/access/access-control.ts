import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../errors.js';
import { type ErrorCode, errors } from '../http/common.schemas.js';
import { metricsTokenMatches } from '../observability/metrics-token.js';
import { carriesCredentials } from './authenticate.js';
import { type Rule, ruleFor } from './policy.js';
import { ANONYMOUS, type Principal } from './principal.js';

export interface AccessControlOptions {
  /** false: the predecessors' routes (`open` in the policy) admit anonymous callers (AUTH_REQUIRED=false). */
  authRequired: boolean;
  registration: 'open' | 'closed';
  authenticate: (request: FastifyRequest) => Promise<Principal>;
  /** METRICS_TOKEN: the bearer token the `metrics` rule accepts; unset, that rule refuses everyone. */
  metricsToken?: string | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The policy's rule for each method of the route, attached when the route is registered. */
    access?: Record<string, Rule>;
  }
}

/**
 * Enforces access/policy.ts: checks every route has a rule as it is registered (or stops the start), and on
 * every request resolves the caller and applies the route's rule before the body is read. Register it before
 * any route.
 */
export function registerAccessControl(app: FastifyInstance, options: AccessControlOptions): void {
  // Null until the onRequest hook below sets it (Fastify refuses an object as a request decoration's default).
  app.decorateRequest('principal', null as never);

  app.addHook('onRoute', (route) => {
    const access: Record<string, Rule> = {};
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      const rule = ruleFor(method, route.url);
      if (!rule) {
        throw new Error(`${method} ${route.url} has no entry in the access policy (src/access/policy.ts)`);
      }
      access[method] = rule;
    }
    route.config = { ...route.config, access };
    documentAccess(route, Object.values(access));
  });

  // Not async: a public route, or an open one called without credentials, is decided without a promise and the
  // tick it costs (most of the traffic with AUTH_REQUIRED=false); only a credential check waits.
  app.addHook('onRequest', (request, _reply, done) => {
    const rule = request.routeOptions.config?.access?.[request.method];
    let principal: Principal | Promise<Principal>;
    try {
      principal = principalFor(request, rule, options);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (principal instanceof Promise) {
      principal.then((resolved) => {
        request.principal = resolved;
        done();
      }, done);
    } else {
      request.principal = principal;
      done();
    }
  });
}

function principalFor(
  request: FastifyRequest,
  rule: Rule | undefined,
  options: AccessControlOptions,
): Principal | Promise<Principal> {
  if (rule?.access === 'public') return ANONYMOUS;
  // AUTH_REQUIRED=false: the predecessors' routes are open to every caller, and without credentials it is anonymous.
  if (rule && !options.authRequired && 'open' in rule && !carriesCredentials(request)) return ANONYMOUS;
  if (rule?.access === 'metrics') {
    if (options.metricsToken === undefined || !metricsTokenMatches(request.headers.authorization, options.metricsToken))
      throw new UnauthorizedError('Not authenticated');
    return ANONYMOUS;
  }
  if (rule?.access === 'registration') {
    if (options.registration === 'closed') throw new ForbiddenError('Registration is closed: ask an administrator');
    return ANONYMOUS;
  }
  return authenticated(request, rule, options);
}

async function authenticated(
  request: FastifyRequest,
  rule: Rule | undefined,
  options: AccessControlOptions,
): Promise<Principal> {
  const principal = await options.authenticate(request);
  // No route matched (404/405): only a caller who is signed in may learn that.
  if (!rule) {
    if (principal.kind === 'anonymous' && options.authRequired) throw new UnauthorizedError('Not authenticated');
    return principal;
  }
  // AUTH_REQUIRED=false: the predecessors' routes are open to every caller; credentials only say who it is.
  if (!options.authRequired && 'open' in rule) return principal;
  if (principal.kind === 'anonymous') throw new UnauthorizedError('Not authenticated');
  authorize(request, rule, principal);
  return principal;
}

function authorize(request: FastifyRequest, rule: Rule, principal: Exclude<Principal, { kind: 'anonymous' }>): void {
  switch (rule.access) {
    case 'user':
      if (principal.kind !== 'user') {
        throw new ForbiddenError('This endpoint acts for a signed-in user; an API key cannot use it');
      }
      return;
    case 'superuser':
      if (principal.kind !== 'user' || !principal.user.is_superuser) {
        throw new ForbiddenError('Superuser privileges required');
      }
      return;
    case 'admin':
    case 'owner': {
      if (principal.kind === 'api_key') {
        if (!principal.apiKey.scopes.includes(rule.scope)) {
          throw new ForbiddenError(`This API key lacks the scope ${rule.scope}`);
        }
        return;
      }
      if (principal.user.is_superuser) return;
      if (rule.access === 'admin') throw new ForbiddenError('Superuser privileges required');
      // Another user's record answers as if it did not exist.
      const params = request.params as Record<string, string | undefined>;
      if (params[rule.param]?.toLowerCase() !== principal.user.id) throw new NotFoundError('User not found');
      return;
    }
    default:
      throw new ForbiddenError('Forbidden');
  }
}

/**
 * Writes the policy into the route's OpenAPI entry, so the document cannot disagree with it: who may call
 * (`security`: none for public routes, a user's bearer token, or a bearer token or an API key) and the 401/403
 * answers that follow.
 */
function documentAccess(route: RouteOptions, rules: Rule[]): void {
  const schema = route.schema as (RouteOptions['schema'] & { security?: unknown; hide?: boolean }) | undefined;
  if (!schema || schema.hide) return;
  const rule = rules[0];
  if (!rule) return;
  const codes: ErrorCode[] = [];
  if (rule.access === 'public') schema.security = [];
  else if (rule.access === 'registration') {
    schema.security = [];
    codes.push(403);
  } else {
    schema.security = rule.access === 'admin' || rule.access === 'owner' ? BEARER_OR_KEY : BEARER;
    codes.push(401, 403);
  }
  const response = (schema.response ?? {}) as Record<string, unknown>;
  for (const [code, entry] of Object.entries(errors(...codes))) response[code] ??= entry;
  schema.response = response;
}

type Security = Record<string, string[]>[];
const BEARER: Security = [{ bearerAuth: [] }];
const BEARER_OR_KEY: Security = [{ bearerAuth: [] }, { apiKeyAuth: [] }];

import type { FastifyRequest } from 'fastify';
import type { AuditContext } from './audit-events.js';

/** Who made this request and from where, as the audit log records it (the principal is resolved by then). */
export function auditContext(request: FastifyRequest): AuditContext {
  const principal = request.principal;
  const agent = request.headers['user-agent'];
  return {
    actorUserId: principal?.kind === 'user' ? principal.user.id : null,
    actorApiKeyId: principal?.kind === 'api_key' ? principal.apiKey.id : null,
    ip: request.ip,
    userAgent: typeof agent === 'string' ? agent : null,
    requestId: request.id,
  };
}

/** What the CLI's changes are recorded with. */
export const CLI_CONTEXT: AuditContext = Object.freeze({ via: 'cli' });

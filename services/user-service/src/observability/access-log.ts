import { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { pathOf } from './logger.js';

/**
 * One line per request, at info, written when the response has been sent (Fastify's own "incoming request" and
 * "request completed" pair is turned off by AccessLogController):
 *
 *   {"level":30,"time":...,"reqId":"...","method":"GET","route":"/api/v1/users/:id",
 *    "path":"/api/v1/users/0193...","status":200,"duration_ms":1.42,"user_id":"0193...","ip":"127.0.0.1",
 *    "msg":"request"}
 *
 * `route` is the route's template (absent when no route matched), `path` the URL without its query string,
 * `user_id` the signed-in user or `api_key_id` the key used, when the request got that far. Never a header, a
 * query string or a body.
 */
export function registerAccessLog(app: FastifyInstance): void {
  const inFlight = new RequestsInFlight();
  app.addHook('onRequest', (request, _reply, done) => {
    inFlight.add(request);
    done();
  });
  // One hook for both: the request is no longer in flight, and its line is written.
  app.addHook('onResponse', (request, reply, done) => {
    inFlight.delete(request);
    // Checked first: at LOG_LEVEL=warn the line costs nothing but this test.
    if ((request.log as unknown as LevelCheck).isLevelEnabled('info'))
      request.log.info(accessLine(request, reply), 'request');
    done();
  });
  app.decorate('requestsInFlight', () => inFlight.ids());
}

/** pino's isLevelEnabled, which Fastify's logger type leaves out. */
interface LevelCheck {
  isLevelEnabled(level: string): boolean;
}

/**
 * Fastify's own per-request lines ("incoming request", "request completed") are replaced by the access line;
 * its error lines (a failed response stream, a serializer or writeHead failure) stay. Passed to Fastify as
 * `logController`.
 */
export class AccessLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error) super.requestCompleted(error, request, reply, metadata);
  }
}

interface AccessLine {
  method: string;
  route?: string;
  path: string;
  status: number;
  duration_ms: number;
  user_id?: string;
  api_key_id?: string;
  ip: string;
}

export function accessLine(request: FastifyRequest, reply: FastifyReply): AccessLine {
  const line: AccessLine = {
    method: request.method,
    route: request.routeOptions.url,
    path: pathOf(request.url),
    status: reply.statusCode,
    duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    ip: request.ip,
  };
  // Null when the request was answered before the access layer ran (a malformed URL, an overload 503).
  const principal = request.principal as FastifyRequest['principal'] | null;
  if (principal?.kind === 'user') line.user_id = principal.user.id;
  else if (principal?.kind === 'api_key') line.api_key_id = principal.apiKey.id;
  return line;
}

/**
 * The requests this process is serving right now, so that a crash (an uncaught exception, an unhandled
 * rejection) can name the requests it may have come from. Node 20 cannot say which request an uncaught error
 * belongs to without AsyncLocalStorage on every request (see the README's Logs section); the ids in flight are
 * cheap and honest: the culprit is among them. The requests themselves are kept, not their ids (a caller's
 * X-Request-Id may repeat). A request whose client went away may never reach onResponse: such requests are
 * swept out when the set grows past what a process serves at once, instead of costing an extra hook (and a
 * 'close' listener) on every request.
 */
class RequestsInFlight {
  private readonly requests = new Set<FastifyRequest>();
  private sweepAt = 1024;

  add(request: FastifyRequest): void {
    if (this.requests.size >= this.sweepAt) this.sweep();
    this.requests.add(request);
  }

  delete(request: FastifyRequest): void {
    this.requests.delete(request);
  }

  ids(): string[] {
    this.sweep();
    return [...this.requests].map((request) => request.id);
  }

  private sweep(): void {
    for (const request of this.requests) {
      const socket = request.raw.socket as { destroyed?: boolean } | null;
      if (!socket || socket.destroyed) this.requests.delete(request);
    }
    this.sweepAt = Math.max(1024, 2 * this.requests.size);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The ids of the requests this process is answering now (see trackRequestsInFlight). */
    requestsInFlight(): string[];
  }
}

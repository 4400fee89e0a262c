import type { Socket } from 'node:net';
import { DatabaseUnavailableError, InvalidCursorError, InvalidQueryError } from '@user-service/data';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  OverloadedError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../errors.js';
import { toValidationDetail } from './validation-errors.js';

/** Seconds a client should wait before retrying while the database is unreachable. */
const RETRY_AFTER_SECONDS = 5;

const FASTIFY_CLIENT_ERRORS: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'Malformed JSON in request body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'Request body is empty but Content-Type is application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'Content-Length does not match the body'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'Unsupported media type: send application/json'],
};

/** Errors the router raises before any route runs (Fastify's `frameworkErrors`), in the same shape. */
export function replyToFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.code(414).send({ detail: 'A path segment is too long' });
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    reply.code(400).send({ detail: 'Malformed URL: a path segment is not valid percent-encoding' });
    return;
  }
  reply.code(400).send({ detail: 'Malformed request' });
}

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'Request headers too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request was not received in time'],
};

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers too large, a request that took too
 * long, malformed HTTP): answered on the raw socket, in the `{"detail": ...}` shape, then the socket closes.
 */
export function replyToClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, detail] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request', 'Malformed HTTP request'];
  const body = JSON.stringify({ detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * The one place that turns errors into HTTP answers, in FastAPI's shapes. Client mistakes get a 4xx with a
 * message a person understands; anything unexpected is a 500 whose body says nothing about internals and
 * whose details go to the log with the request id.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.validation) {
      return reply.code(422).send({ detail: toValidationDetail(error.validation as never, error.validationContext) });
    }
    const known = error.code ? FASTIFY_CLIENT_ERRORS[error.code] : undefined;
    if (known) return reply.code(known[0]).send({ detail: known[1] });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .send({ detail: `Request body too large: the limit is ${app.initialConfig.bodyLimit} bytes` });
    }
    if (error instanceof BadRequestError) return reply.code(400).send({ detail: error.message });
    if (error instanceof NotFoundError) return reply.code(404).send({ detail: error.message });
    if (error instanceof ConflictError) return reply.code(409).send({ detail: error.message });
    if (error instanceof ForbiddenError) return reply.code(403).send({ detail: error.message });
    if (error instanceof UnauthorizedError) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ detail: error.message });
    }
    if (error instanceof TooManyRequestsError) {
      return reply.code(429).header('retry-after', String(error.retryAfterSeconds)).send({ detail: error.message });
    }
    if (error instanceof InvalidInputError) {
      return reply.code(422).send({ detail: [{ loc: error.loc, msg: error.message, type: 'value_error' }] });
    }
    if (error instanceof InvalidCursorError) {
      return reply.code(422).send({ detail: [{ loc: ['query', 'after'], msg: error.message, type: 'value_error' }] });
    }
    if (error instanceof InvalidQueryError) return reply.code(400).send({ detail: error.message });
    if (error instanceof DatabaseUnavailableError) {
      request.log.warn({ err: error }, 'database unavailable');
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ detail: 'Service temporarily unavailable: the database cannot be reached' });
    }
    if (error instanceof OverloadedError) {
      return reply.code(503).header('retry-after', String(error.retryAfterSeconds)).send({ detail: error.message });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ detail: error.message });
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ detail: 'Internal Server Error' });
  });

  // Unknown path: 404. Known path with another method: 405 with Allow, as Starlette answers. A route that exists
  // for this very method but sent the request here (a static file that is not there) means 404, not 405.
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.split('?')[0] ?? '/';
    if (app.findRoute({ method: request.method as 'GET', url })) return reply.code(404).send({ detail: 'Not Found' });
    const allowed = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].filter(
      (method) => method !== request.method && app.findRoute({ method: method as 'GET', url }),
    );
    if (allowed.length > 0)
      return reply.code(405).header('allow', allowed.join(', ')).send({ detail: 'Method Not Allowed' });
    return reply.code(404).send({ detail: 'Not Found' });
  });
}

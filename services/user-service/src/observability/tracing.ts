/**
 * Traces (OpenTelemetry), on only when configured (config.ts `tracing`). This module is imported on demand by
 * server.ts: with tracing off neither it nor any @opentelemetry SDK package is loaded, and a request does no
 * tracing work at all (no hook, no context manager, no wrapper).
 *
 * What it records, per request:
 * - a SERVER span named `<METHOD> <route template>` (Fastify's template: `GET /api/v1/users/:user_id`, the same
 *   spelling as the access log's `route`; never the concrete path), child of the caller's W3C `traceparent`;
 * - a CLIENT child span per SQL statement (`SELECT users`), placed after the fact from the data layer's
 *   QueryEvent: the SQL text with placeholders, never the parameter values;
 * - an INTERNAL child span per password hash or verification (`password.hash`, `password.verify`).
 * The response carries `traceresponse: 00-<trace id>-<span id>-<flags>` (W3C Trace Context level 2) so a caller
 * without a trace of its own can still find this one. Log lines written while a request is being served carry
 * `trace_id` and `span_id` (pino mixin).
 *
 * Never in a span: a header other than User-Agent, a query string, a body, a SQL parameter, an error message
 * (a driver's message can quote a value, MySQL's duplicate-key message does); errors are named by class or code.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  type Attributes,
  type Context,
  context,
  DiagLogLevel,
  diag,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { DialectKind, QueryEvent, QueryObserver } from '@user-service/data';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import type { PasswordHasher } from '../auth/password-hasher.js';
import type { TracingConfig } from '../config.js';
import { VERSION } from '../version.js';

/** What buildApp needs from tracing (app.ts imports only this type, never this module). */
export interface RequestTracing {
  /** Fastify's serverFactory: every request is handled inside its span's context. */
  serverFactory: FastifyServerFactory;
  /** Adds the hooks that name the request span once the route is known. */
  register(app: FastifyInstance): void;
}

export interface Tracing extends RequestTracing {
  /** For openRuntime's queryObservers: one child span per SQL statement run while serving a request. */
  queryObserver: QueryObserver;
  /** Called once the database is open: its kind is every query span's db.system. */
  setDatabaseKind(kind: DialectKind): void;
  /** Wraps this hasher's hash and verify in spans (the instance only; no cost where tracing is off). */
  traceHasher(hasher: PasswordHasher): void;
  /** pino's mixin: trace_id and span_id of the active span, on every line written while serving a request. */
  mixin(): Record<string, string>;
  /** Exports what is buffered, then stops (the app's onClose runs it; idempotent). */
  shutdown(): Promise<void>;
}

const SPAN = Symbol('user-service.span');
type TracedRequest = IncomingMessage & { [SPAN]?: Span };

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** OpenTelemetry's db.system(.name) values for the data layer's dialects. */
const DB_SYSTEM: Record<DialectKind, string> = { sqlite: 'sqlite', postgres: 'postgresql', mysql: 'mysql' };

const NO_FIELDS: Record<string, string> = {};

/** The URL's path: its query string (a cursor, a search term, a misplaced secret) is never recorded. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The longest shutdown waits for the last spans to be exported. */
const SHUTDOWN_FLUSH_MS = 2_000;

/** Starts the SDK: tracer provider, exporter(s), context manager, W3C propagator. */
export function startTracing(settings: TracingConfig): Tracing {
  // Export failures and SDK misconfiguration go to stderr (the SDK is silent without a diag logger).
  diag.setLogger(
    {
      error: (message) => process.stderr.write(`tracing: ${message}\n`),
      warn: (message) => process.stderr.write(`tracing: ${message}\n`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  const processors: SpanProcessor[] = settings.exporters.map((name) =>
    // The OTLP exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT/HEADERS/TIMEOUT itself; the batch processor
    // OTEL_BSP_*. The console exporter prints each span as it ends (for a person debugging, not production).
    name === 'console'
      ? new SimpleSpanProcessor(new ConsoleSpanExporter())
      : new BatchSpanProcessor(new OTLPTraceExporter()),
  );
  const provider = new BasicTracerProvider({
    // OTEL_RESOURCE_ATTRIBUTES is honoured; service.name and service.version are ours.
    resource: defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(resourceFromAttributes({ 'service.name': settings.serviceName, 'service.version': VERSION })),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer('user-service', VERSION);

  let dbSystem = 'other_sql';
  let stopped: Promise<void> | undefined;
  // At most SHUTDOWN_FLUSH_MS: a collector that is down makes the exporter retry for up to its timeout (10 s),
  // which would eat the whole graceful-shutdown budget; the spans of the last moments are not worth that.
  const shutdown = (): Promise<void> => {
    stopped ??= Promise.race([
      provider.shutdown().catch(() => {}),
      new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_FLUSH_MS).unref()),
    ]);
    return stopped;
  };
  return {
    serverFactory: serverFactory(tracer),
    register: (app) => registerHooks(app, shutdown),
    queryObserver: (event) => querySpan(tracer, dbSystem, event),
    setDatabaseKind: (kind) => {
      dbSystem = DB_SYSTEM[kind] ?? 'other_sql';
    },
    traceHasher: (hasher) => traceHasher(tracer, hasher),
    mixin: () => {
      const span = trace.getSpan(context.active());
      if (!span) return NO_FIELDS;
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
    shutdown,
  };
}

/**
 * The HTTP server Fastify would make (same timeouts), whose handler starts the request's SERVER span from the
 * incoming `traceparent` and runs Fastify's handler inside that span's context, so that everything the request
 * awaits (hooks, the route, Kysely's queries, the hasher) sees it as the active span. The span ends when the
 * response closes (sent, or the client went away).
 */
function serverFactory(tracer: Tracer): FastifyServerFactory {
  return ((handler: (req: IncomingMessage, res: ServerResponse) => void, options: Record<string, unknown>) => {
    const server: Server = createServer((req: TracedRequest, res) => {
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      const method = req.method ?? 'GET';
      const known = KNOWN_METHODS.has(method);
      const attributes: Attributes = {
        'http.request.method': known ? method : '_OTHER',
        'url.scheme': 'http',
        'url.path': pathOf(req.url ?? '/'),
        'server.port': req.socket.localPort,
        'network.protocol.version': req.httpVersion,
      };
      if (!known) attributes['http.request.method_original'] = method;
      const agent = req.headers['user-agent'];
      if (agent) attributes['user_agent.original'] = agent;
      // Named again once the route is known (onRequest); a request no route matched keeps the method alone.
      const span = tracer.startSpan(known ? method : 'HTTP', { kind: SpanKind.SERVER, attributes }, parent);
      req[SPAN] = span;
      const { traceId, spanId, traceFlags } = span.spanContext();
      res.setHeader('traceresponse', `00-${traceId}-${spanId}-0${traceFlags & 1}`);
      res.once('close', () => {
        if (res.writableFinished) {
          span.setAttribute('http.response.status_code', res.statusCode);
          if (res.statusCode >= 500) {
            span.setAttribute('error.type', String(res.statusCode));
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
        } else {
          // The client went away before the answer was sent: not a server error, but worth telling apart.
          span.setAttribute('error.type', 'aborted');
        }
        span.end();
      });
      context.with(trace.setSpan(parent, span), () => handler(req, res));
    });
    // As Fastify sets them on the server it makes itself (fastify/lib/server.js).
    server.keepAliveTimeout = options.keepAliveTimeout as number;
    server.requestTimeout = options.requestTimeout as number;
    server.setTimeout(options.connectionTimeout as number);
    if ((options.maxRequestsPerSocket as number) > 0)
      server.maxRequestsPerSocket = options.maxRequestsPerSocket as number;
    return server;
  }) as FastifyServerFactory;
}

function registerHooks(app: FastifyInstance, shutdown: () => Promise<void>): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const span = (request.raw as TracedRequest)[SPAN];
    if (span) {
      const route = request.routeOptions.url;
      if (route) {
        span.updateName(`${KNOWN_METHODS.has(request.method) ? request.method : 'HTTP'} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('request.id', request.id);
      span.setAttribute('client.address', request.ip);
    }
    done();
  });
  // After the server stopped and the in-flight requests ended: their spans are in the batch, export it.
  app.addHook('onClose', async () => shutdown());
}

/** A CLIENT span for one SQL statement, child of the active span (statements outside a request are not traced). */
function querySpan(tracer: Tracer, dbSystem: string, event: QueryEvent): void {
  const parent = context.active();
  // Outside a request, or in a request the sampler left out (its children would not be recorded either).
  if (!trace.getSpan(parent)?.isRecording()) return;
  const operation =
    event.operation === 'other'
      ? (/^\s*([A-Za-z]+)/.exec(event.sql)?.[1] ?? 'SQL').toUpperCase()
      : event.operation.toUpperCase();
  const attributes: Attributes = {
    'db.system': dbSystem,
    'db.system.name': dbSystem,
    'db.operation.name': operation,
    'db.query.text': event.sql,
  };
  if (event.table) attributes['db.collection.name'] = event.table;
  const span = tracer.startSpan(
    event.table ? `${operation} ${event.table}` : operation,
    { kind: SpanKind.CLIENT, startTime: event.startedAt, attributes },
    parent,
  );
  if (event.error !== undefined) failed(span, event.error);
  span.end(event.startedAt + event.durationMs);
}

function traceHasher(tracer: Tracer, hasher: PasswordHasher): void {
  const hash = hasher.hash.bind(hasher);
  const verify = hasher.verify.bind(hasher);
  hasher.hash = (password) => inSpan(tracer, 'password.hash', { 'password.scheme': 'argon2id' }, () => hash(password));
  hasher.verify = (password, stored) =>
    inSpan(tracer, 'password.verify', { 'password.scheme': schemeOf(stored) }, async (span) => {
      const result = await verify(password, stored);
      // Whether the stored hash was replaced (bcrypt or weaker argon2 parameters): the span then covers two hashes.
      if (result.upgradedHash) span.setAttribute('password.rehashed', true);
      return result;
    });
}

function schemeOf(stored: string): string {
  if (stored.startsWith('$argon2id$')) return 'argon2id';
  if (stored.startsWith('$argon2')) return 'argon2';
  if (stored.startsWith('$2')) return 'bcrypt';
  return 'unknown';
}

async function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const parent: Context = context.active();
  // Outside a request (the first superuser at start-up) there is nothing to attach the span to; in a request the
  // sampler left out, nothing would be recorded.
  if (!trace.getSpan(parent)?.isRecording()) return work(trace.wrapSpanContext(INVALID_SPAN_CONTEXT));
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent);
  try {
    return await work(span);
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks a span failed, naming the error by its code or class only (a message can quote a value). */
function failed(span: Span, error: unknown): void {
  const code = (error as { code?: unknown })?.code;
  const type = typeof code === 'string' ? code : ((error as Error)?.name ?? 'Error');
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

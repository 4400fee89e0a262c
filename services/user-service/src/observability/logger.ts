/**
 * The service's logger options, in one place: Fastify's logger is pino, writing one JSON object a line to
 * stdout (or, for a person at a terminal, pino-pretty's coloured lines). The start-up banner and the cluster
 * primary's messages are plain text on stderr and are not this logger's.
 *
 * What may never be logged: a password, a token, an API key secret, a hash, a request body, a query string.
 * The request headers that carry credentials are redacted; no serializer here logs a body or a URL with its
 * query; error objects are reduced to a few named fields (a driver error can carry the SQL and its values,
 * mysql2's `sql` for one), and their text is scrubbed of anything shaped like a credential.
 */
import type { FastifyServerOptions } from 'fastify';

/** pino's options as Fastify takes them (its `logger` option, the object form). */
type PinoLoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

/** Where log lines are written: anything with write(line). */
export interface LogDestination {
  write(line: string): void;
}

export type LogFormat = 'json' | 'pretty' | 'auto';

export interface LoggerSettings {
  level: string;
  /** LOG_FORMAT: `auto` is pretty when stdout is a terminal, else JSON. */
  format?: LogFormat;
}

export interface LoggerExtras {
  /**
   * Fields merged into every line (pino's `mixin`), e.g. the current trace's trace_id and span_id. Called for
   * every line written, so it must be cheap.
   */
  mixin?: PinoLoggerOptions['mixin'];
  /** Where lines go instead of stdout (the tests capture them). Always JSON. */
  destination?: LogDestination;
}

/** Fastify's `logger` option: pino's options plus the stream to write to. */
export type ServiceLoggerOptions = PinoLoggerOptions & { stream?: LogDestination };

/** Request headers that carry credentials (a request is never logged whole, but a plugin might log one). */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
];

/** A request URL without its query string (which may hold a cursor, a search term or a misplaced secret). */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

// Shapes of credentials: argon2/bcrypt hashes, JWTs, API keys, refresh tokens are opaque base64url strings
// handed out by this service (scrubbed by the same JWT/usk_ patterns where they have a known shape).
const SECRET_SHAPES = [
  /\$argon2(?:id|i|d)\$[^\s'"]*/g,
  /\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}/g,
  /\beyJ[\w-]*\.[\w-]*\.[\w-]*/g,
  /\busk_[\w-]+/g,
];

/** Replaces anything shaped like a credential in a text that goes to the log (error messages and stacks). */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[REDACTED]');
  return out;
}

export interface LoggedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  statusCode?: number;
  cause?: LoggedError;
}

/**
 * An error as it is logged: its class, message, stack, code and status, and its cause the same way; nothing
 * else. Other own properties (a driver's `sql`, `parameters`, `detail`; a library's `request` or `body`) are
 * left out because they can carry the values of a query or the body of a request.
 */
export function serializeError(error: unknown, depth = 0): LoggedError {
  if (!(error instanceof Error)) return { type: typeof error, message: scrubSecrets(String(error)) };
  const out: LoggedError = {
    type: error.name || error.constructor?.name || 'Error',
    message: scrubSecrets(error.message),
  };
  if (error.stack) out.stack = scrubSecrets(error.stack);
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (typeof statusCode === 'number') out.statusCode = statusCode;
  if (error.cause !== undefined && depth < 3) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/** A request as it is logged if anything logs one: method and path, never the query, headers or body. */
function serializeRequest(request: { method?: string; url?: string; id?: string }) {
  return { method: request.method, path: pathOf(request.url ?? ''), id: request.id };
}

function serializeResponse(reply: { statusCode?: number }) {
  return { status: reply.statusCode };
}

/** Whether lines should be pretty-printed for a person (LOG_FORMAT, or auto: stdout is a terminal). */
export function prettyLogs(format: LogFormat = 'auto'): boolean {
  return format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
}

/**
 * Builds Fastify's logger options from the configuration. JSON by default; pretty when asked or when stdout is
 * a terminal (pino-pretty in this process, so a fatal line is written before the process exits). `extras.mixin`
 * adds fields to every line (the tracing module passes trace_id/span_id here).
 */
export async function loggerOptions(
  settings: LoggerSettings,
  extras: LoggerExtras = {},
): Promise<ServiceLoggerOptions> {
  const options: ServiceLoggerOptions = {
    level: settings.level,
    redact: REDACTED_PATHS,
    // Fastify's types want its own err shape (stack required); ours may leave the stack out.
    serializers: {
      err: serializeError as never,
      error: serializeError,
      req: serializeRequest as never,
      res: serializeResponse as never,
    },
  };
  if (extras.mixin) options.mixin = extras.mixin;
  if (extras.destination) options.stream = extras.destination;
  else if (prettyLogs(settings.format)) {
    // Loaded only when used: JSON deployments never load the prettifier.
    const { default: pretty } = await import('pino-pretty');
    options.stream = pretty({
      colorize: process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
      sync: true,
    });
  }
  return options;
}

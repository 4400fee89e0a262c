import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;
type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Fastify gives every request its own pino child logger (bound to the request id), made before any hook runs.
 * Most requests never write a line at the levels a deployment turns on (LOG_LEVEL=warn: none at all), so the
 * child is made on the first line actually written instead: until then `request.log` answers from the app's
 * logger, whose level a child without its own inherits anyway. Lines are the same as with an eager child.
 */
class RequestLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bound: Bindings,
  ) {}

  /** The real child, made once. */
  private get logger(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bound);
    return this.#child;
  }

  get level(): string {
    return (this.#child ?? this.parent).level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    const logger = (this.#child ?? this.parent) as unknown as { isLevelEnabled?(level: string): boolean };
    // A logger without the check (not pino) is asked to write, as an eager child would be.
    return logger.isLevelEnabled ? logger.isLevelEnabled(level) : true;
  }

  /** A line at `level`: the child is made only when the level is on (pino's own methods are no-ops below it). */
  private write(level: Level, args: unknown[]): void {
    if (this.#child === undefined && !this.isLevelEnabled(level)) return;
    (this.logger[level] as (...a: unknown[]) => void)(...args);
  }

  // Methods on the prototype, not arrow fields: a request's logger must cost one small object, not seven closures.
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: Parameters<FastifyBaseLogger['child']>[1]): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }

  bindings(): Bindings {
    return (this.logger as unknown as { bindings(): Bindings }).bindings();
  }
}

/**
 * Fastify's `childLoggerFactory`: a lazy child per request; a route with its own log level or serializers
 * (Fastify passes them as options) gets an eager one, as Fastify would make it.
 */
export const lazyChildLogger: ChildLoggerFactory = (logger, bindings, options) => {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options);
  return new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger;
};

/**
 * The compilers Fastify builds route schemas with, each remembering what it compiled by the schema's JSON.
 *
 * Fastify compiles every route's schemas when the app gets ready, once per route, part and status code: about
 * 440 response serializers for 33 distinct schemas (the shared error answers of every route are the same few),
 * and 52 request validators for 27. Each compile costs a few ms, so start-up spent most of a second on copies.
 * Same schema JSON and same external schemas: the compiled function is the same, and both kinds are pure
 * functions of their input, so sharing one is safe.
 *
 * Each distinct compile is also deferred (DeferredCompiles): Fastify gets a function that compiles on its first
 * call, and the app compiles the rest right after it listens (app.ts), one schema per turn of the event loop.
 * The ~60 compiles took about a fifth of a worker's start-up (a `--cpu-prof` of `node dist/main.js`: ajv 11.6%,
 * fast-json-stringify 8.6% of 2.0 s busy); now they come after the port is open, and a request that arrives
 * first waits for its own route's compile (a few ms) at most.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifySchemaCompiler, FastifySerializerCompiler, FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * Fastify's own serializer factory (fast-json-stringify) behind a cache. Fastify asks for a compiler per
 * context (each plugin); contexts with the same external schemas share one, and its compiled serializers.
 */
export function cachedSerializerFactory(deferred: DeferredCompiles): NonNullable<CompilersFactory['buildSerializer']> {
  const build = SerializerSelector();
  const byExternals = new Map<string, FastifySerializerCompiler<unknown>>();
  return (externalSchemas, options) => {
    const externalsKey = JSON.stringify([externalSchemas, options ?? null]);
    const known = byExternals.get(externalsKey);
    if (known) return known as ReturnType<NonNullable<CompilersFactory['buildSerializer']>>;
    const compile = build(externalSchemas, options) as FastifySerializerCompiler<unknown>;
    const compiled = new Map<string, ReturnType<FastifySerializerCompiler<unknown>>>();
    const cached: FastifySerializerCompiler<unknown> = (route) => {
      const key = JSON.stringify(route.schema);
      let serialize = compiled.get(key);
      if (!serialize) {
        serialize = deferred.defer(() => compile(route));
        compiled.set(key, serialize);
      }
      return serialize;
    };
    byExternals.set(externalsKey, cached);
    return cached as ReturnType<NonNullable<CompilersFactory['buildSerializer']>>;
  };
}

/**
 * A factory that always gives `compile` (the app's validator, for every context: see app.ts), behind a cache
 * keyed by the request part (bodies and URLs are validated differently) and the schema's JSON.
 */
export function cachedValidatorFactory(
  compile: FastifySchemaCompiler<unknown>,
  deferred: DeferredCompiles,
): CompilersFactory['buildValidator'] {
  const compiled = new Map<string, ReturnType<FastifySchemaCompiler<unknown>>>();
  const cached: FastifySchemaCompiler<unknown> = (route) => {
    const key = `${route.httpPart ?? ''} ${JSON.stringify(route.schema)}`;
    let validate = compiled.get(key);
    if (!validate) {
      validate = deferred.defer(() => compile(route));
      compiled.set(key, validate);
    }
    return validate;
  };
  // Fastify's types list only Ajv-shaped factories; at run time any schema compiler is taken.
  return (() => cached) as unknown as CompilersFactory['buildValidator'];
}

/**
 * Compiles put off until first use or until drain(), whichever comes first. A schema that cannot compile
 * throws at its first use (an error answer for that route) and in drain(), which reports it.
 */
export class DeferredCompiles {
  private readonly pending: (() => unknown)[] = [];

  /**
   * A function that compiles on its first call and then runs the compiled one. Validators and serializers take
   * one argument (the data), so the wrapper passes one: no rest array on every request.
   */
  defer<F extends (input: never) => unknown>(compile: () => F): F {
    let compiled: F | undefined;
    this.pending.push(() => {
      compiled ??= compile();
    });
    return ((input: never) => {
      compiled ??= compile();
      return compiled(input);
    }) as F;
  }

  /** How many deferred compiles have not run yet (some may have run at first use). */
  get size(): number {
    return this.pending.length;
  }

  /**
   * Compiles everything still deferred, one per macrotask (setImmediate), so a request that arrives meanwhile
   * waits for one compile at most. Resolves when done; a failing compile goes to `onError` and the rest go on.
   */
  drain(onError: (error: unknown) => void): Promise<void> {
    return new Promise((resolve) => {
      const next = () => {
        const force = this.pending.shift();
        if (!force) return resolve();
        try {
          force();
        } catch (error) {
          onError(error);
        }
        setImmediate(next);
      };
      setImmediate(next);
    });
  }
}

/**
 * The compilers Fastify builds route schemas with, each remembering what it compiled by the schema's JSON.
 *
 * Fastify compiles every route's schemas when the app gets ready, once per route, part and status code: about
 * 440 response serializers for 33 distinct schemas (the shared error answers of every route are the same few),
 * and 52 request validators for 27. Each compile costs a few ms, so start-up spent most of a second on copies.
 * Same schema JSON and same external schemas: the compiled function is the same, and both kinds are pure
 * functions of their input, so sharing one is safe.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifySchemaCompiler, FastifySerializerCompiler, FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * Fastify's own serializer factory (fast-json-stringify) behind a cache. Fastify asks for a compiler per
 * context (each plugin); contexts with the same external schemas share one, and its compiled serializers.
 */
export function cachedSerializerFactory(): NonNullable<CompilersFactory['buildSerializer']> {
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
        serialize = compile(route);
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
export function cachedValidatorFactory(compile: FastifySchemaCompiler<unknown>): CompilersFactory['buildValidator'] {
  const compiled = new Map<string, ReturnType<FastifySchemaCompiler<unknown>>>();
  const cached: FastifySchemaCompiler<unknown> = (route) => {
    const key = `${route.httpPart ?? ''} ${JSON.stringify(route.schema)}`;
    let validate = compiled.get(key);
    if (!validate) {
      validate = compile(route);
      compiled.set(key, validate);
    }
    return validate;
  };
  // Fastify's types list only Ajv-shaped factories; at run time any schema compiler is taken.
  return (() => cached) as unknown as CompilersFactory['buildValidator'];
}

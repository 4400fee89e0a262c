/**
 * The fuzz suite's view of the service's own OpenAPI document: every operation (method + path template) with
 * its parameters, body and documented responses, and validators for those responses. Nothing here knows the
 * service's routes; everything is read from `/openapi.json`.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export type JsonSchema = Record<string, any>;

export interface OpenApiDoc {
  paths: Record<string, Record<string, any>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

export interface ParamSpec {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  /** "GET /api/v1/users/{id}" */
  key: string;
  method: string;
  /** The path template, "/api/v1/users/{id}". */
  path: string;
  pathParams: ParamSpec[];
  queryParams: ParamSpec[];
  body: { required: boolean; contentTypes: string[]; schema: JsonSchema } | undefined;
  /** Every status the document declares for the operation. */
  statuses: Set<number>;
  /** The documented JSON body schema per status (undefined: the status is documented without a body). */
  responses: Map<number, JsonSchema | undefined>;
  /** The operation declares a security requirement (a bearer token). */
  secured: boolean;
  /** POST, PUT, PATCH, DELETE: may change what it names. */
  mutating: boolean;
  /** The path template's literal segments, e.g. ["api", "v1", "users"]. */
  literals: string[];
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'];

/** The schema with every `$ref` to `#/components/schemas/X` replaced by a copy of X (the document has no cycles). */
export function resolveRefs(schema: unknown, doc: OpenApiDoc, depth = 0): any {
  if (depth > 32) throw new Error('schema nesting too deep: a $ref cycle?');
  if (Array.isArray(schema)) return schema.map((item) => resolveRefs(item, doc, depth + 1));
  if (schema === null || typeof schema !== 'object') return schema;
  const record = schema as Record<string, unknown>;
  if (typeof record.$ref === 'string') {
    const name = record.$ref.replace('#/components/schemas/', '');
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`unresolved $ref ${record.$ref}`);
    const { $ref: _ref, ...rest } = record;
    return { ...resolveRefs(target, doc, depth + 1), ...resolveRefs(rest, doc, depth + 1) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) out[key] = resolveRefs(value, doc, depth + 1);
  return out;
}

export function operationsOf(doc: OpenApiDoc): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params: ParamSpec[] = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: any) => ({
        name: p.name,
        in: p.in,
        required: Boolean(p.required),
        schema: resolveRefs(p.schema ?? {}, doc),
      }));
      // Path parameters in template order.
      const order = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const pathParams = order.map((name) => {
        const found = params.find((p) => p.in === 'path' && p.name === name);
        return found ?? { name: name as string, in: 'path' as const, required: true, schema: { type: 'string' } };
      });
      let body: Operation['body'];
      if (op.requestBody) {
        const content = op.requestBody.content ?? {};
        const types = Object.keys(content);
        const first = types[0];
        body = {
          required: Boolean(op.requestBody.required),
          contentTypes: types,
          schema: first ? resolveRefs(content[first].schema ?? {}, doc) : {},
        };
      }
      const responses = new Map<number, JsonSchema | undefined>();
      for (const [code, response] of Object.entries<any>(op.responses ?? {})) {
        const schema = response?.content?.['application/json']?.schema;
        responses.set(Number(code), schema ? resolveRefs(schema, doc) : undefined);
      }
      out.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        pathParams,
        queryParams: params.filter((p) => p.in === 'query'),
        body,
        statuses: new Set(responses.keys()),
        responses,
        secured: Array.isArray(op.security) && op.security.length > 0,
        mutating: !['get', 'head'].includes(method),
        literals: path.split('/').filter((s) => s && !s.startsWith('{')),
      });
    }
  }
  return out;
}

/**
 * A copy of a response schema in which every object that lists its properties allows no others: a field the
 * document does not name (a hash, an internal code, Fastify's own `statusCode`/`error`) is a mismatch.
 */
export function closeObjects(schema: unknown): any {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = closeObjects(value);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** Validators for documented response bodies (closed objects) and for request bodies (as the document says). */
export class SchemaChecker {
  private readonly ajv = addFormats(new Ajv({ strict: false, allErrors: true, validateFormats: true }));
  private readonly cache = new Map<JsonSchema, ValidateFunction>();

  private compile(schema: JsonSchema): ValidateFunction {
    let validate = this.cache.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.cache.set(schema, validate);
    }
    return validate;
  }

  /** Ajv's errors for `data` against a response schema with closed objects, or [] when it matches. */
  responseErrors(schema: JsonSchema, data: unknown): string[] {
    const closed = this.closedCache.get(schema) ?? closeObjects(schema);
    this.closedCache.set(schema, closed);
    const validate = this.compile(closed);
    if (validate(data)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
  }
  private readonly closedCache = new Map<JsonSchema, JsonSchema>();

  /**
   * Ajv's errors for a request body against the document's schema, without coercion, leaving out unknown
   * properties (the service documents that it ignores fields a caller may not set).
   */
  requestErrors(schema: JsonSchema, data: unknown): { keyword: string; path: string }[] {
    const validate = this.compile(schema);
    // Ajv may remove or default nothing here (no removeAdditional/useDefaults), so `data` is unchanged.
    if (validate(data)) return [];
    return (validate.errors ?? [])
      .filter((e) => e.keyword !== 'additionalProperties')
      .map((e) => ({ keyword: e.keyword, path: e.instancePath }));
  }
}

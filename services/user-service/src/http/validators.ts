/**
 * Request validation: one Ajv for bodies and one for the URL (query string and path), because they need
 * opposite coercion. JSON bodies are typed already, so nothing is coerced there: `{"full_name": true}` is a
 * 422, as FastAPI answers, not the string "true". Query strings and path parameters are always text, so they
 * are coerced to the declared type, but an integer must be written as one (`skip=0x10`, `skip=+`, `1e300`
 * are 422, not 16, 0 and a number no database can take).
 *
 * Before either runs, every string in the input is checked for NUL and unpaired UTF-16 surrogates: PostgreSQL
 * refuses NUL with an error, SQLite treats it as the end of a LIKE pattern, and a lone surrogate cannot be
 * stored as UTF-8 at all. They are refused with 422 on every database alike.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { toValidationDetail, type ValidationDetail } from './validation-errors.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const common = { useDefaults: true, allErrors: true, addUsedSchema: false, strict: false } as const;

/** Bodies: no coercion; fields a schema does not list are dropped (ignored), never stored. */
const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false, removeAdditional: 'all' }));
/** Query strings and path parameters: text coerced to the declared type. */
const urlAjv = addFormats(new Ajv({ ...common, coerceTypes: 'array', removeAdditional: true }));

const INTEGER_TEXT = /^[+-]?\d{1,16}$/;
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** NUL or any surrogate: a string without one is safe, which is almost every string (one scan, no lookaround). */
const SUSPECT = /[\0\uD800-\uDFFF]/;

/** NUL or an unpaired surrogate anywhere in a string: neither can be stored the same way on every database. */
export function isUnsafeString(value: string): boolean {
  return SUSPECT.test(value) && (value.includes('\0') || UNPAIRED_SURROGATE.test(value));
}

/**
 * Whether `data` holds any unsafe string or key: the check every request passes, so it builds no paths and no
 * stack of pairs; `unsafeStrings` then names them for the (rare) 422.
 */
function hasUnsafeStrings(data: unknown): boolean {
  if (typeof data === 'string') return isUnsafeString(data);
  if (data === null || typeof data !== 'object') return false;
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (isUnsafeString(value)) return true;
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (isUnsafeString(key)) return true;
        stack.push((value as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** JSON-pointer paths of every unsafe string (and object key) in `data`, walked without recursion. */
function unsafeStrings(data: unknown): string[] {
  const found: string[] = [];
  const stack: [unknown, string][] = [[data, '']];
  while (stack.length > 0 && found.length < 20) {
    const [value, path] = stack.pop() as [unknown, string];
    if (typeof value === 'string') {
      if (isUnsafeString(value)) found.push(path);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}/${i}`]);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        const child = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        if (isUnsafeString(key)) found.push(child);
        else stack.push([item, child]);
      }
    }
  }
  return found.reverse();
}

type Properties = Record<string, { type?: unknown }>;

/** Query/path properties declared as integers, whose text must look like an integer before coercion. */
function integerProperties(schema: { properties?: Properties }): string[] {
  return Object.entries(schema.properties ?? {})
    .filter(([, s]) => s.type === 'integer')
    .map(([name]) => name);
}

function unsafeError(instancePath: string): ErrorObject {
  return { keyword: 'unsafeString', instancePath, schemaPath: '', params: {} };
}

function typeError(name: string): ErrorObject {
  return { keyword: 'type', instancePath: `/${name}`, schemaPath: '', params: { type: 'integer' } };
}

/** Fastify's validator compiler: picks the Ajv for the part of the request and adds the checks above. */
export const validatorCompiler: FastifySchemaCompiler<any> = ({ schema, httpPart }) => {
  const isBody = httpPart === 'body';
  const validate: ValidateFunction = (isBody ? bodyAjv : urlAjv).compile(schema as object);
  const integers = isBody ? [] : integerProperties(schema as { properties?: Properties });
  return (data: unknown) => {
    const errors: ErrorObject[] = hasUnsafeStrings(data) ? unsafeStrings(data).map(unsafeError) : [];
    if (!isBody && data !== null && typeof data === 'object') {
      for (const name of integers) {
        const raw = (data as Record<string, unknown>)[name];
        const texts = Array.isArray(raw) ? raw : [raw];
        if (texts.some((t) => typeof t === 'string' && !INTEGER_TEXT.test(t))) {
          errors.push(typeError(name));
        }
      }
    }
    if (errors.length > 0) {
      // Report the schema's own errors too, so one answer lists everything wrong (as FastAPI does).
      if (!validate(data)) errors.push(...(validate.errors ?? []));
      return { error: Object.assign(new Error('validation failed'), { validation: errors }) };
    }
    if (validate(data)) return { value: data };
    return { error: Object.assign(new Error('validation failed'), { validation: validate.errors ?? [] }) };
  };
};

/**
 * The API's body validation for the ways in that are not HTTP (the CLI import): the same Ajv and schema, the
 * same refusal of NUL and unpaired surrogates, and the same details a 422 carries (`loc` under "body", `msg`),
 * so a record that breaks a rule is told what a request would be told. An empty list means valid. Validates a
 * copy: defaults and dropped fields never touch the caller's object.
 */
export function bodyValidator(schema: object): (data: unknown) => ValidationDetail[] {
  const check = validatorCompiler({ schema, httpPart: 'body', method: 'POST', url: '' });
  return (data) => {
    const result = check(structuredClone(data)) as { error?: { validation: ErrorObject[] } };
    return result.error ? toValidationDetail(result.error.validation, 'body') : [];
  };
}

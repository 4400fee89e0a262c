/**
 * What every fuzzed response must satisfy, read from the OpenAPI document: no 5xx; a status the operation
 * declares; a body that matches the schema documented for that status (objects closed: no undocumented
 * field); errors in the `{"detail": ...}` shapes; no password hash, SQL text or stack trace anywhere; cursors
 * that carry no secret; and a few semantic checks a schema cannot express (search matches what it says, a
 * lookup returns what was asked for, forged cursors and tokens buy nothing).
 */
import type { JsonSchema, OpenApiDoc, Operation, SchemaChecker } from './fuzz-openapi.js';
import { resolveRefs } from './fuzz-openapi.js';
import type { BuiltRequest } from './fuzz-requests.js';

export interface Finding {
  /** What kind of failure: "5xx", "undocumented-status", "body-mismatch", ... */
  kind: string;
  /** Groups findings that are one defect: kind, operation, status, cause. */
  key: string;
  message: string;
}

export interface ResponseLike {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/**
 * Statuses accepted on any operation without being declared in the document: none. Issue 7 asks that every
 * status the service sends be in the document (415 on body routes, 404/422 on HEAD, Fastify's own 400/414),
 * so an undeclared status is a finding whatever its cause. 503 would be the one candidate (any route can
 * lose its database), but the fuzz suite never takes the database away, so it is not needed here either.
 */
export const GLOBAL_STATUSES = new Set<number>();

const LEAKED_HASH = /\$argon2(id|i|d)?\$|\$2[abxy]\$\d\d\$/;
const SQL_TEXT =
  /select |insert into|delete from|update \S+ set|syntax error|sqlstate|violates [a-z ]*constraint|invalid input syntax|duplicate key value|invalid byte sequence|out of range for type|you have an error in your sql/i;
/** Driver error codes, case-sensitive: SQLITE_CONSTRAINT, ER_DUP_ENTRY (not "greater_than_equal"). */
const SQL_CODES = /SQLITE_[A-Z]+|\bER_[A-Z_]{4,}|\b[0-9A-Z]{5}\b(?=.*sqlstate)/;
const STACK_TRACE = / {4}at |\bat [\w$.<>]+ \(|node:internal|\.ts:\d+:\d+/;

export interface OracleContext {
  checker: SchemaChecker;
  /** Sort columns a cursor may name, per list operation key. */
  cursorColumns: Map<string, Set<string>>;
  errorSchemas: JsonSchema[];
  /** The public view of each sentinel user and persona by id, as read at set-up. */
  sentinelViews: Map<string, unknown>;
  /** Every text any request of the run sent (up to 1,000 characters), as sent and normalised (trim, lower case). */
  sent: Set<string>;
}

export function oracleContext(doc: OpenApiDoc, ops: Operation[], checker: SchemaChecker): OracleContext {
  const cursorColumns = new Map<string, Set<string>>();
  for (const op of ops) {
    if (!op.queryParams.some((p) => p.name === 'after')) continue;
    const sort = op.queryParams.find((p) => p.name === 'sort');
    const match = typeof sort?.schema.pattern === 'string' ? /\(([^()]+)\)/.exec(sort.schema.pattern) : null;
    if (match?.[1]) {
      cursorColumns.set(op.key, new Set(match[1].split('|')));
    } else {
      // No sort parameter: the list's own item fields at most.
      const item = listItems(op.responses.get(200));
      cursorColumns.set(op.key, new Set(Object.keys(item?.properties ?? {})));
    }
  }
  const errorSchemas = ['HTTPError', 'HTTPValidationError']
    .filter((name) => doc.components?.schemas?.[name])
    .map((name) => resolveRefs({ $ref: `#/components/schemas/${name}` }, doc));
  return { checker, cursorColumns, errorSchemas, sentinelViews: new Map(), sent: new Set() };
}

/** The schema of a list response's items (its first array property). */
function listItems(schema: JsonSchema | undefined): JsonSchema | undefined {
  for (const prop of Object.values<JsonSchema>(schema?.properties ?? {})) {
    if (prop.type === 'array' && prop.items?.type === 'object') return prop.items;
  }
  return undefined;
}

/** `text` with every quoted copy of what the request sent removed (an error may rightly echo input). */
function withoutEchoes(text: string, sent: string[]): string {
  let out = text;
  for (const s of sent) {
    if (s.length < 3) continue;
    out = out.split(s).join('');
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) out = out.split(escaped).join('');
  }
  return out;
}

const normalizeKey = (text: string) =>
  text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\/\d+(?=\/|\s|$)/g, '/*')
    .replace(/\d+/g, 'N')
    .slice(0, 120);

function headerText(headers: Record<string, unknown>): string {
  return Object.entries(headers)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`)
    .join('\n');
}

/** Every finding for one response. `serverError` is the error the service logged for it, if any. */
export function checkResponse(
  op: Operation,
  req: BuiltRequest,
  res: ResponseLike,
  ctx: OracleContext,
  serverError: string | undefined,
): Finding[] {
  const out: Finding[] = [];
  const status = res.statusCode;
  const add = (kind: string, cause: string, message: string) =>
    out.push({ kind, key: `${kind} ${status} ${op.key} ${normalizeKey(cause)}`.trim(), message });

  if (status >= 500) add('5xx', serverError ?? '', `${status}: ${serverError ?? res.body.slice(0, 200)}`);
  if (!op.statuses.has(status) && !GLOBAL_STATUSES.has(status)) {
    add('undocumented-status', '', `${status} is not among ${[...op.statuses].join(', ')}`);
  }

  // The body: none where none belongs, JSON otherwise, matching what is documented for the status.
  let json: any;
  const noBody = op.method === 'HEAD' || status === 204 || status === 304;
  if (noBody) {
    if (res.body.length > 0)
      add('body-where-none', '', `a ${op.method} ${status} answer has a body: ${res.body.slice(0, 200)}`);
  } else if (res.body.length === 0) {
    if (op.responses.get(status) || status >= 400) add('empty-body', '', `${status} with an empty body`);
  } else {
    const type = String(res.headers['content-type'] ?? '');
    try {
      json = JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    if (json === undefined || !type.startsWith('application/json')) {
      add('not-json', type, `content-type ${type}: ${res.body.slice(0, 200)}`);
    } else {
      const documented = op.responses.get(status);
      if (documented) {
        const errors = ctx.checker.responseErrors(documented, json);
        if (errors.length)
          add('body-mismatch', errors[0] ?? '', `${errors.slice(0, 5).join('; ')}: ${res.body.slice(0, 300)}`);
      } else if (status >= 400) {
        const shaped = ctx.errorSchemas.some((schema) => ctx.checker.responseErrors(schema, json).length === 0);
        if (!shaped)
          add('error-shape', Object.keys(json ?? {}).join(','), `not {"detail": ...}: ${res.body.slice(0, 300)}`);
      }
    }
  }

  for (const text of req.sentTexts) {
    if (text.length <= 1000) ctx.sent.add(text).add(text.trim().toLowerCase());
  }
  // Leaks: hashes anywhere; SQL text and stack traces in error bodies and headers (less what the request sent,
  // which an error may quote), and in every string of a JSON success body that is not stored client data.
  const headers = headerText(res.headers);
  if (LEAKED_HASH.test(res.body) || LEAKED_HASH.test(headers)) add('hash-leak', '', res.body.slice(0, 300));
  const errorText = withoutEchoes(`${status >= 300 ? res.body : ''}\n${headers}`, req.sentTexts);
  const sql = SQL_TEXT.exec(errorText) ?? SQL_CODES.exec(errorText);
  if (sql) add('sql-text', sql[0], `"${sql[0]}" in ${errorText.slice(0, 300)}`);
  const stack = STACK_TRACE.exec(errorText);
  if (stack) add('stack-trace', '', `"${stack[0]}" in ${errorText.slice(0, 300)}`);
  if (status < 300 && json !== undefined) {
    for (const text of stringsIn(json)) {
      if (ctx.sent.has(text) || ctx.sent.has(text.trim().toLowerCase())) continue;
      const leak = SQL_TEXT.exec(text) ?? SQL_CODES.exec(text) ?? STACK_TRACE.exec(text);
      if (leak) add('sql-or-stack-in-success', leak[0], `"${leak[0]}" in ${text.slice(0, 300)}`);
    }
  }

  const ok = status >= 200 && status < 300;
  if (ok && json !== undefined) {
    // A cursor the service issues must not carry a secret column or value.
    const cursor = typeof json?.next_cursor === 'string' ? json.next_cursor : undefined;
    if (cursor) {
      const decoded = Buffer.from(cursor.split('.')[0] ?? '', 'base64url').toString('utf8');
      if (/hashed_password|\$argon2|\$2[abxy]\$/.test(decoded))
        add('cursor-leak', '', `next_cursor decodes to ${decoded}`);
    }
    checkSearch(op, req, json, add);
    checkLookup(op, req, json, add);
    // Mutations that named a sentinel are checked in the database instead.
    if (!op.mutating) checkSentinelViews(json, ctx, add);
  }
  if (ok && req.forgedCursorColumn !== undefined) {
    const allowed = ctx.cursorColumns.get(op.key);
    if (allowed && !allowed.has(req.forgedCursorColumn)) {
      add(
        'forged-cursor-accepted',
        req.forgedCursorColumn,
        `a forged cursor on column "${req.forgedCursorColumn}" was accepted`,
      );
    }
  }
  if (ok && req.mustRefuse) {
    const cause = req.mustRefuse.replace(/\/\d+/g, '/*');
    add('refused-input-accepted', cause, `${status} although ${req.mustRefuse}: ${res.body.slice(0, 200)}`);
  }
  if (ok && req.tokenWithoutExp && op.secured)
    add('token-without-exp-accepted', '', `${status} for a token without exp`);
  return out;
}

type Add = (kind: string, cause: string, message: string) => void;

const isAscii = (text: string) => [...text].every((c) => (c.codePointAt(0) as number) < 0x80);

/** Search (an operation with a `q` parameter): every user returned contains the term, without regard to case. */
function checkSearch(op: Operation, req: BuiltRequest, json: any, add: Add): void {
  if (!op.queryParams.some((p) => p.name === 'q')) return;
  const term = req.queryValues.q?.trim();
  if (!term || !isAscii(term)) return;
  const items = Object.values(json ?? {}).find(Array.isArray) as any[] | undefined;
  const itemSchema = listItems(op.responses.get(200));
  const fields = Object.entries<JsonSchema>(itemSchema?.properties ?? {})
    .filter(([, s]) => s.type === 'string' && s.format !== 'uuid' && s.format !== 'date-time')
    .map(([name]) => name);
  for (const item of items ?? []) {
    const values = fields.map((f) => item?.[f]).filter((v): v is string => typeof v === 'string');
    // A value with non-ASCII text may match under a database's case folding (MariaDB: "ss" ~ "ß"); only
    // all-ASCII rows are held to the plain rule.
    if (values.some((v) => !isAscii(v))) continue;
    if (!values.some((v) => v.toLowerCase().includes(term.toLowerCase()))) {
      add('search-mismatch', '', `q=${JSON.stringify(term)} returned ${JSON.stringify(item)}`);
      return;
    }
  }
}

/** A lookup by a field (GET /users/email/{email}): the user returned has that field, normalised as stored. */
function checkLookup(op: Operation, req: BuiltRequest, json: any, add: Add): void {
  if (op.method !== 'GET') return;
  for (const param of op.pathParams) {
    if (param.schema.format === 'uuid' || typeof json?.[param.name] !== 'string') continue;
    const asked = req.pathValues[param.name];
    if (asked === undefined) continue;
    const expected = asked.trim().toLowerCase();
    if (json[param.name] !== expected) {
      add(
        'lookup-mismatch',
        param.name,
        `asked for ${param.name} ${JSON.stringify(asked)}, got ${JSON.stringify(json[param.name])}`,
      );
    }
  }
}

/** Any sentinel user or persona in a response looks exactly as it did at set-up. */
function checkSentinelViews(json: any, ctx: OracleContext, add: Add): void {
  const items: any[] = [json, ...((Object.values(json ?? {}).find(Array.isArray) as any[] | undefined) ?? [])];
  for (const item of items) {
    const id = item?.id;
    if (typeof id !== 'string') continue;
    const view = ctx.sentinelViews.get(id);
    if (view !== undefined && JSON.stringify(view) !== JSON.stringify(item)) {
      add('sentinel-view-changed', '', `now ${JSON.stringify(item)}, was ${JSON.stringify(view)}`);
    }
  }
}

/** Every string (values and keys) in a parsed JSON document, walked without recursion. */
function stringsIn(json: unknown): string[] {
  const out: string[] = [];
  const stack = [json];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) stack.push(...value);
    else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        out.push(key);
        stack.push(item);
      }
    }
  }
  return out;
}

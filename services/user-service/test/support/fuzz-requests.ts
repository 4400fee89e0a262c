/**
 * Requests for the fuzz suite: a fast-check generator per OpenAPI operation producing a plain description of a
 * request (which existing user it names, path and query text, body, content type, credentials), and the code
 * that turns such a description into an `app.inject()` request against the current state of the world, plus a
 * curl command that reproduces it.
 */
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import type { Operation, ParamSpec, SchemaChecker } from './fuzz-openapi.js';
import {
  bodyValue,
  credentialBody,
  encodeText,
  INJECTION,
  jsonText,
  malformedText,
  RAW_URL_TEXT,
  UNICODE_EDGE,
  type ValueContext,
  validObject,
  validText,
} from './fuzz-values.js';

/** A user the suite created, with what it knows about it. */
export interface UserEntry {
  id: string;
  email: string;
  username: string | null;
  password: string;
  personas: string[];
}

/** What exists while the suite runs: the users requests may name, tokens, cursors the service issued. */
export interface World {
  /** Never changed by a request the document lets succeed; checked in the database at the end. */
  sentinels: UserEntry[];
  /** Throw-away users: mutating requests with valid input go here. Grows with every 201. */
  temps: UserEntry[];
  /** The logged-in callers (a user and a superuser); read, never mutated by id. */
  principals: UserEntry[];
  tokens: string[];
  /** next_cursor values seen in responses, with the table of the list that issued them. */
  cursors: { text: string; table: string }[];
  /** The JWT secret the test app signs with, when the suite could confirm it (for forged-token cases). */
  tokenSecret: string | undefined;
}

type Pool = 'sentinel' | 'temp' | 'principal';

export type PathPart =
  | { kind: 'user-id' }
  | { kind: 'persona-id' }
  | { kind: 'foreign-persona-id' }
  | { kind: 'user-email'; variant: number }
  | { kind: 'user-username'; variant: number }
  | { kind: 'text'; text: string }
  | { kind: 'raw'; raw: string };

export type CursorSpec =
  | {
      kind: 'real';
      index: number;
      mutation: 'none' | 'truncate' | 'flip' | 'append' | 'drop-mac' | 'other-list';
      at: number;
    }
  | {
      kind: 'forged';
      column: string;
      direction: unknown;
      value: unknown;
      id: unknown;
      mac: 'sha256' | 'random' | 'none';
    }
  | { kind: 'bytes'; bytes: number[]; dot: boolean }
  | { kind: 'text'; text: string };

export type QueryValue =
  | { kind: 'text'; text: string }
  | { kind: 'raw'; raw: string }
  | { kind: 'cursor'; cursor: CursorSpec };

export type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; name: string }
  | { kind: 'form'; value: unknown }
  | { kind: 'bytes'; bytes: number[] };

export type AuthSpec =
  | 'none'
  | 'principal'
  | 'superuser'
  | 'no-exp'
  | 'expired'
  | 'wrong-key'
  | 'alg-none'
  | 'unknown-user'
  | 'sub-injection'
  | 'garbage'
  | 'basic'
  | 'long'
  | 'lowercase-scheme';

export interface RequestSpec {
  op: number;
  subject: { pool: Pool; index: number; persona: number; other: number };
  spareId: string;
  path: PathPart[];
  query: { name: string; value: QueryValue }[];
  rawQuery: string | null;
  body: BodySpec;
  /** undefined: the natural type for the body; null: no content-type header at all. */
  contentType: string | null | undefined;
  auth: AuthSpec;
  accept: string | null;
  requestId: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Raw bodies: things a JSON value cannot express.

const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

export const RAW_BODIES: Record<string, string> = {
  'deep-array-5000': deepArray(5000),
  'deep-object-5000': deepObject(5000),
  'deep-array-100000': deepArray(100_000),
  'deep-object-100000': deepObject(100_000),
  'deep-in-field': `{"email":"deep@example.com","password":"password-1","name":"n","relation_type":"r","personas":${deepArray(5000)},"full_name":${deepArray(5000)}}`,
  'duplicate-keys': '{"email":"dup1@example.com","email":"dup2@example.com","password":"password-1","password":"x"}',
  'duplicate-keys-valid-last':
    '{"name":"","name":"dup","relation_type":42,"relation_type":"friend","full_name":1,"full_name":"Dup","current_password":null,"current_password":"x","new_password":"y","new_password":"password-2"}',
  'proto-key': '{"__proto__":{"is_superuser":true},"email":"proto@example.com","password":"password-1"}',
  'constructor-key': '{"constructor":{"prototype":{"is_superuser":true}},"name":"c","relation_type":"r"}',
  'truncated-json': '{"email":"a@example.com","password":"pass',
  'single-quotes': "{'email':'a@example.com'}",
  'trailing-comma': '{"name":"x","relation_type":"y",}',
  'trailing-garbage': '{"name":"x","relation_type":"y"}garbage',
  'two-documents': '{"name":"x"}{"name":"y"}',
  bom: '\ufeff{"name":"bom","relation_type":"r"}',
  nan: 'NaN',
  undefined: 'undefined',
  empty: '',
  whitespace: ' \n\t ',
  null: 'null',
  'top-string': '"just a string"',
  'top-number': '1e400',
  'nul-byte': '\u0000',
  'escaped-nul': '{"name":"\\u0000","relation_type":"\\u0000","full_name":"\\u0000","email":"a\\u0000@b.co"}',
  'escaped-surrogate': '{"name":"\\ud800","relation_type":"\\udc00","full_name":"\\ud800"}',
  'many-keys': `{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
  'long-key': `{"${'k'.repeat(100_000)}":1}`,
  // Over the 1 MiB body limit.
  huge: `{"full_name":"${'x'.repeat(1_100_000)}"}`,
};

const RAW_QUERIES = [
  '%zz=1',
  'a=%zz',
  '&&&',
  '=',
  '=x',
  'skip',
  'limit=',
  'limit=1&limit=2',
  `${'x'.repeat(10_000)}=1`,
  'q=%00',
  ';',
  '%00=%00',
  'after=',
  'sort=hashed_password',
  'sort=-hashed_password:asc',
  'active_only=true&active_only=false',
  'skip[]=1',
  'limit=%ED%A0%80',
];

const EXTRA_QUERY: [string, string][] = [
  ['foo', 'bar'],
  ['hashed_password', 'x'],
  ['__proto__', 'x'],
  ['constructor', 'x'],
  ['sort[column]', 'hashed_password'],
  ['q[$ne]', 'x'],
  ['is_superuser', 'true'],
  ['password', 'password-1'],
];

const CONTENT_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;',
  'application/json-patch+json',
  'application/vnd.api+json',
  'application/octet-stream',
  '*/*',
  'text/json',
  'application/json, text/plain',
  '',
];

/** Columns a forged cursor names: secret, unknown, hostile and ordinary. */
const CURSOR_COLUMNS = [
  'hashed_password',
  'password',
  'is_superuser',
  'email',
  'id',
  'created_at',
  'name',
  'user_id',
  'nope',
  '',
  'id; drop table users',
  '"id"',
  'users.hashed_password',
  '__proto__',
];

// ---------------------------------------------------------------------------------------------------------------
// Generators

function cursorArb(): fc.Arbitrary<CursorSpec> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('real' as const),
        index: fc.nat(100),
        mutation: fc.constantFrom('none', 'truncate', 'flip', 'append', 'drop-mac', 'other-list') as fc.Arbitrary<
          'none' | 'truncate' | 'flip' | 'append' | 'drop-mac' | 'other-list'
        >,
        at: fc.nat(1000),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('forged' as const),
        // The secret column most of all: ordering by it is how hashes leaked (issue 7).
        column: fc.oneof(
          { weight: 3, arbitrary: fc.constant('hashed_password') },
          { weight: 4, arbitrary: fc.constantFrom(...CURSOR_COLUMNS) },
        ),
        // Mostly well-formed bodies, so the forgery gets past the shape checks to the column and the checksum.
        direction: fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom<unknown>('asc', 'desc') },
          { weight: 1, arbitrary: fc.constantFrom<unknown>('ASC', 'sideways', 1, null) },
        ),
        value: fc.oneof(
          {
            weight: 6,
            arbitrary: fc.constantFrom<unknown>(
              '$argon2id$v=19$m=65536,t=3,p=4$',
              '',
              'M',
              0,
              1e300,
              true,
              "' or 1=1 --",
            ),
          },
          { weight: 2, arbitrary: fc.string({ maxLength: 8 }) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>(null, {}, []) },
        ),
        id: fc.oneof(
          { weight: 6, arbitrary: fc.uuid() },
          {
            weight: 1,
            arbitrary: fc.constantFrom<unknown>('', '00000000-0000-0000-0000-000000000000', "' or 1=1 --", 1),
          },
        ),
        mac: fc.constantFrom('sha256', 'sha256', 'sha256', 'random', 'none') as fc.Arbitrary<
          'sha256' | 'random' | 'none'
        >,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('bytes' as const),
        bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 64 }),
        dot: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('text' as const),
        text: fc.oneof(
          fc.constantFrom(
            '["id","asc",1,"x"]',
            '{"column":"hashed_password"}',
            'null',
            '.',
            '..',
            'a.b.c',
            'x'.repeat(513),
            'x'.repeat(5000),
            ...UNICODE_EDGE,
            ...INJECTION,
          ),
          fc.string({ minLength: 1, maxLength: 40 }),
          fc.base64String({ minLength: 4, maxLength: 80 }),
        ),
      }),
    },
  );
}

function pathPartArb(param: ParamSpec, uuidIndex: number, ctx: ValueContext): fc.Arbitrary<PathPart> {
  const malformed = malformedText(param.schema).map((text): PathPart => ({ kind: 'text', text }));
  const raw = fc.constantFrom(...RAW_URL_TEXT).map((r): PathPart => ({ kind: 'raw', raw: r }));
  const valid = validText(param.schema, ctx, param.name).map((text): PathPart => ({ kind: 'text', text }));
  if (param.schema.format === 'uuid') {
    const named: fc.Arbitrary<PathPart>[] =
      uuidIndex === 0
        ? [fc.constant({ kind: 'user-id' })]
        : [
            fc.constant({ kind: 'persona-id' }),
            fc.constant({ kind: 'persona-id' }),
            fc.constant({ kind: 'foreign-persona-id' }),
            fc.constant({ kind: 'user-id' }),
          ];
    return fc.oneof(
      { weight: 10, arbitrary: fc.oneof(...named) },
      { weight: 1, arbitrary: valid },
      { weight: 1, arbitrary: malformed },
      { weight: 1, arbitrary: raw },
    );
  }
  const variant = fc.nat(3);
  const named: fc.Arbitrary<PathPart>[] = [];
  if (/mail/i.test(param.name)) named.push(variant.map((v) => ({ kind: 'user-email', variant: v })));
  else if (/user/i.test(param.name)) named.push(variant.map((v) => ({ kind: 'user-username', variant: v })));
  return fc.oneof(
    ...named.map((arbitrary) => ({ weight: 4, arbitrary })),
    { weight: 3, arbitrary: valid },
    { weight: 2, arbitrary: malformed },
    { weight: 1, arbitrary: raw },
  );
}

type QueryParts = { name: string; value: QueryValue }[];

/**
 * Query strings mostly valid or with exactly one thing wrong, so a fault in one parameter is not hidden behind
 * a 422 for another; now and then several things wrong at once.
 */
function queryArb(op: Operation, ctx: ValueContext): fc.Arbitrary<QueryParts> {
  const text = (arb: fc.Arbitrary<string>) => arb.map((t): QueryValue => ({ kind: 'text', text: t }));
  const absent = fc.constant([] as QueryValue[]);
  const params = op.queryParams.map((p) => {
    const isCursor = p.name === 'after' || /cursor/i.test(String(p.schema.description ?? ''));
    const good: fc.Arbitrary<QueryValue[]> = isCursor
      ? fc.oneof(
          { weight: 3, arbitrary: absent },
          {
            weight: 1,
            arbitrary: fc
              .nat(100)
              .map((index): QueryValue[] => [
                { kind: 'cursor', cursor: { kind: 'real', index, mutation: 'none', at: 0 } },
              ]),
          },
        )
      : fc.oneof(
          { weight: p.required ? 2 : 3, arbitrary: absent },
          { weight: 3, arbitrary: text(validText(p.schema, ctx, p.name)).map((v) => [v]) },
        );
    const badOne: fc.Arbitrary<QueryValue> = isCursor
      ? cursorArb().map((cursor): QueryValue => ({ kind: 'cursor', cursor }))
      : fc.oneof(
          { weight: 5, arbitrary: text(malformedText(p.schema)) },
          { weight: 1, arbitrary: fc.constantFrom(...RAW_URL_TEXT).map((raw): QueryValue => ({ kind: 'raw', raw })) },
        );
    const bad = fc.oneof(
      { weight: 5, arbitrary: badOne.map((v) => [v]) },
      { weight: 1, arbitrary: fc.tuple(good, badOne).map(([g, b]) => [...g, b]) },
    );
    const named = (values: QueryValue[]) => values.map((value) => ({ name: p.name, value }));
    return { good: good.map(named), bad: bad.map(named), weight: isCursor ? 4 : 1 };
  });
  // Which parameter is the wrong one: cursors (forged, mangled, foreign) have the most ways to be wrong.
  const pick = () => fc.oneof(...params.map((p, i) => ({ weight: p.weight, arbitrary: fc.constant(i) })));
  const extras = fc
    .subarray(EXTRA_QUERY, { minLength: 1, maxLength: 2 })
    .map((pairs) => pairs.map(([name, t]) => ({ name, value: { kind: 'text', text: t } as QueryValue })));
  const goods = params.length ? fc.tuple(...params.map((p) => p.good)) : fc.constant([] as QueryParts[]);
  const options: fc.WeightedArbitrary<QueryParts>[] = [
    { weight: 4, arbitrary: goods.map((parts) => parts.flat()) },
    { weight: 1, arbitrary: fc.tuple(goods, extras).map(([parts, extra]) => [...parts.flat(), ...extra]) },
  ];
  if (params.length) {
    const bads = fc.tuple(...params.map((p) => p.bad));
    options.push(
      {
        weight: 5,
        arbitrary: fc
          .tuple(pick(), goods, bads)
          .map(([i, good, bad]) => good.flatMap((parts, j) => (j === i ? (bad[j] as QueryParts) : parts))),
      },
      // One parameter alone, wrong: nothing else can be refused first (a cursor with skip, say).
      {
        weight: 3,
        arbitrary: fc.tuple(pick(), bads).map(([i, bad]) => bad[i] as QueryParts),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(goods, bads, fc.array(fc.boolean(), { minLength: params.length, maxLength: params.length }))
          .map(([good, bad, pick]) => good.flatMap((parts, j) => (pick[j] ? (bad[j] as QueryParts) : parts))),
      },
    );
  }
  return fc.oneof(...options);
}

function bodyArb(op: Operation, ctx: ValueContext): fc.Arbitrary<BodySpec> {
  const raw = fc.constantFrom(...Object.keys(RAW_BODIES)).map((name): BodySpec => ({ kind: 'raw', name }));
  if (!op.body) {
    return fc.oneof(
      { weight: 20, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value): BodySpec => ({ kind: 'json', value })) },
      { weight: 1, arbitrary: raw },
    );
  }
  const schema = op.body.schema;
  return fc.oneof(
    { weight: 14, arbitrary: bodyValue(schema, ctx).map((value): BodySpec => ({ kind: 'json', value })) },
    { weight: 2, arbitrary: raw },
    {
      weight: 1,
      arbitrary: fc
        .oneof(validObject(schema, ctx), credentialBody(schema, ctx) ?? validObject(schema, ctx))
        .map((value): BodySpec => ({ kind: 'form', value })),
    },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.nat(255), { minLength: 1, maxLength: 32 })
        .map((bytes): BodySpec => ({ kind: 'bytes', bytes })),
    },
  );
}

function authArb(op: Operation): fc.Arbitrary<AuthSpec> {
  const hostile = fc.constantFrom<AuthSpec>(
    'no-exp',
    'expired',
    'wrong-key',
    'alg-none',
    'unknown-user',
    'sub-injection',
    'garbage',
    'basic',
    'long',
    'lowercase-scheme',
  );
  return op.secured
    ? fc.oneof(
        { weight: 6, arbitrary: fc.constant<AuthSpec>('principal') },
        { weight: 2, arbitrary: fc.constant<AuthSpec>('superuser') },
        { weight: 1, arbitrary: fc.constant<AuthSpec>('none') },
        { weight: 4, arbitrary: hostile },
      )
    : fc.oneof(
        { weight: 12, arbitrary: fc.constant<AuthSpec>('none') },
        { weight: 2, arbitrary: fc.constantFrom<AuthSpec>('principal', 'superuser') },
        { weight: 1, arbitrary: hostile },
      );
}

/** The generator of requests for one operation. */
export function requestArb(op: Operation, opIndex: number, ctx: ValueContext): fc.Arbitrary<RequestSpec> {
  let uuidIndex = 0;
  const pathParts = op.pathParams.map((p) => pathPartArb(p, p.schema.format === 'uuid' ? uuidIndex++ : -1, ctx));
  return fc.record({
    op: fc.constant(opIndex),
    subject: fc.record({
      pool: fc.oneof(
        { weight: 5, arbitrary: fc.constant<Pool>('sentinel') },
        { weight: 4, arbitrary: fc.constant<Pool>('temp') },
        { weight: 1, arbitrary: fc.constant<Pool>('principal') },
      ),
      index: fc.nat(1000),
      persona: fc.nat(1000),
      other: fc.nat(1000),
    }),
    spareId: fc.uuid(),
    path: pathParts.length ? fc.tuple(...pathParts) : fc.constant([] as PathPart[]),
    query: queryArb(op, ctx),
    rawQuery: fc.oneof(
      { weight: 15, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom(...RAW_QUERIES) },
    ),
    body: bodyArb(op, ctx),
    contentType: fc.oneof(
      { weight: 16, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      { weight: 1, arbitrary: fc.constant(null) },
    ),
    auth: authArb(op),
    accept: fc.oneof(
      { weight: 8, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom('application/json', 'text/html', 'application/xml', '*/*', 'image/png') },
    ),
    requestId: fc.oneof(
      { weight: 12, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom('abc-123', 'x'.repeat(300), 'a b', "' or 1=1 --", '../x', '%00') },
    ),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Building a request from its description and the world

export interface BuiltRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload: string | Buffer | undefined;
  /** The body as the server should parse it: undefined when there is none or it is not JSON. */
  parsedBody: unknown;
  bodyIsJson: boolean;
  /** Why the request as a whole must be refused, when the document makes it so (else undefined). */
  mustRefuse: string | undefined;
  /** Sentinel ids named in the path. */
  sentinelIds: string[];
  /** A forged cursor's column, when the request carries one. */
  forgedCursorColumn: string | undefined;
  /** Decoded texts the request carries (an error message may quote them). */
  sentTexts: string[];
  /** The decoded value of each path parameter. */
  pathValues: Record<string, string>;
  /** The decoded value of each query parameter sent once. */
  queryValues: Record<string, string>;
  /** The bearer token is correctly signed but has no expiry. */
  tokenWithoutExp: boolean;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signJwt(payload: Record<string, unknown>, secret: string, alg = 'HS256'): string {
  const head = b64url({ alg, typ: 'JWT' });
  const body = b64url(payload);
  if (alg === 'none') return `${head}.${body}.`;
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
}

/** The cursor checksum the data layer used before issue 7 (unkeyed): forging one is what the attack did. */
export function unkeyedChecksum(table: string, body: string): string {
  return createHash('sha256').update(table).update('\0').update(body).digest('base64url').slice(0, 12);
}

function authHeader(auth: AuthSpec, world: World, spareId: string): { value?: string; withoutExp: boolean } {
  const now = Math.floor(Date.now() / 1000);
  const secret = world.tokenSecret ?? 'unknown-secret';
  const sub = world.principals[0]?.id ?? spareId;
  switch (auth) {
    case 'none':
      return { withoutExp: false };
    case 'principal':
      return { value: `Bearer ${world.tokens[0]}`, withoutExp: false };
    case 'superuser':
      return { value: `Bearer ${world.tokens[1] ?? world.tokens[0]}`, withoutExp: false };
    case 'no-exp':
      return { value: `Bearer ${signJwt({ sub, iat: now }, secret)}`, withoutExp: world.tokenSecret !== undefined };
    case 'expired':
      return { value: `Bearer ${signJwt({ sub, iat: now - 7200, exp: now - 3600 }, secret)}`, withoutExp: false };
    case 'wrong-key':
      return { value: `Bearer ${signJwt({ sub, exp: now + 3600 }, 'not-the-secret')}`, withoutExp: false };
    case 'alg-none':
      return { value: `Bearer ${signJwt({ sub, exp: now + 3600 }, '', 'none')}`, withoutExp: false };
    case 'unknown-user':
      return { value: `Bearer ${signJwt({ sub: spareId, exp: now + 3600 }, secret)}`, withoutExp: false };
    case 'sub-injection':
      return { value: `Bearer ${signJwt({ sub: "' or 1=1 --", exp: now + 3600 }, secret)}`, withoutExp: false };
    case 'garbage':
      return { value: 'Bearer not.a.jwt', withoutExp: false };
    case 'basic':
      return { value: `Basic ${Buffer.from('admin:admin').toString('base64')}`, withoutExp: false };
    case 'long':
      return { value: `Bearer ${'a'.repeat(8000)}`, withoutExp: false };
    case 'lowercase-scheme':
      return { value: `bearer ${world.tokens[0]}`, withoutExp: false };
  }
}

function cursorText(spec: CursorSpec, table: string, world: World): { text: string; forged?: string } {
  switch (spec.kind) {
    case 'real': {
      const sameList = world.cursors.filter((c) =>
        spec.mutation === 'other-list' ? c.table !== table : c.table === table,
      );
      const found = sameList[spec.index % Math.max(1, sameList.length)];
      if (!found) return { text: 'no-cursor-yet' };
      const t = found.text;
      switch (spec.mutation) {
        case 'none':
        case 'other-list':
          return { text: t };
        case 'truncate':
          return { text: t.slice(0, Math.max(1, spec.at % t.length)) };
        case 'flip': {
          const i = spec.at % t.length;
          const c = t[i] === 'A' ? 'B' : 'A';
          return { text: `${t.slice(0, i)}${c}${t.slice(i + 1)}` };
        }
        case 'append':
          return { text: `${t}.x` };
        case 'drop-mac':
          return { text: t.split('.')[0] ?? t };
      }
      return { text: t };
    }
    case 'forged': {
      const body = b64url([spec.column, spec.direction, spec.value, spec.id]);
      const mac =
        spec.mac === 'sha256'
          ? `.${unkeyedChecksum(table, body)}`
          : spec.mac === 'random'
            ? `.${createHash('sha256').update(body).digest('base64url').slice(0, 22)}`
            : '';
      return { text: `${body}${mac}`, forged: spec.column };
    }
    case 'bytes': {
      const body = Buffer.from(spec.bytes).toString('base64url');
      return { text: spec.dot ? `${body}.${body.slice(0, 12)}` : body };
    }
    case 'text':
      return { text: spec.text };
  }
}

function listTable(op: Operation): string {
  return op.literals[op.literals.length - 1] ?? '';
}

function entryOf(world: World, pool: Pool, index: number): UserEntry {
  const list = pool === 'sentinel' ? world.sentinels : pool === 'temp' ? world.temps : world.principals;
  return list[index % list.length] as UserEntry;
}

function variantOf(text: string, variant: number): string {
  switch (variant % 4) {
    case 1:
      return text.toUpperCase();
    case 2:
      return ` ${text} `;
    case 3:
      return text.replace(/^./, (c) => c.toUpperCase());
    default:
      return text;
  }
}

/** A decoded path value that would route to another operation (a literal segment, a dot segment, empty). */
function collides(value: string, literals: Set<string>): boolean {
  return value === '' || value === '.' || value === '..' || literals.has(value);
}

function bodyPayload(body: BodySpec): { payload: string | Buffer | undefined; natural: string | undefined } {
  switch (body.kind) {
    case 'none':
      return { payload: undefined, natural: undefined };
    case 'json':
      return { payload: jsonText(body.value), natural: 'application/json' };
    case 'raw':
      return { payload: RAW_BODIES[body.name] ?? '', natural: 'application/json' };
    case 'form': {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries((body.value ?? {}) as Record<string, unknown>)) {
        params.append(k, typeof v === 'string' ? v : jsonText(v));
      }
      return { payload: params.toString(), natural: 'application/x-www-form-urlencoded' };
    }
    case 'bytes':
      return { payload: Buffer.from(body.bytes), natural: 'application/json' };
  }
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * The request for `spec` against the current world. A mutating request names a sentinel only when the document
 * says it must be refused (a body the schema rejects, a content type it does not accept, a persona of another
 * user); otherwise it is pointed at a throw-away user instead.
 */
export function buildRequest(
  spec: RequestSpec,
  op: Operation,
  world: World,
  checker: SchemaChecker,
  literals: Set<string>,
  bodyLimit: number,
): BuiltRequest {
  const sentTexts: string[] = [];
  const { payload, natural } = bodyPayload(spec.body);
  const contentType =
    spec.contentType === undefined ? natural : spec.contentType === null ? undefined : spec.contentType;
  const accepted = op.body ? op.body.contentTypes.map((t) => t.toLowerCase()) : [];
  const isJsonType = mediaType(contentType) === 'application/json';

  let parsedBody: unknown;
  let parses = false;
  if (payload !== undefined && isJsonType) {
    try {
      // RFC 8259 lets a parser ignore a leading byte order mark, and Fastify's does.
      const text = typeof payload === 'string' ? payload : payload.toString('utf8');
      parsedBody = JSON.parse(text.replace(/^\ufeff/, ''));
      parses = true;
    } catch {
      parses = false;
    }
  }

  let mustRefuse: string | undefined;
  if (op.body) {
    if (payload !== undefined && payload.length > bodyLimit) mustRefuse = 'body over the limit';
    else if (payload !== undefined && contentType !== undefined && !accepted.includes(mediaType(contentType))) {
      mustRefuse = `content type ${contentType} is not ${accepted.join(', ')}`;
    } else if (op.body.required && (payload === undefined || payload.length === 0)) mustRefuse = 'no body';
    else if (payload !== undefined && isJsonType && !parses) mustRefuse = 'not JSON';
    else if (parses) {
      const errors = checker.requestErrors(op.body.schema, parsedBody);
      if (errors.length) mustRefuse = `body: ${errors.map((e) => `${e.path || '/'} ${e.keyword}`).join(', ')}`;
    }
  }
  const hasForeignPersona = spec.path.some((p) => p.kind === 'foreign-persona-id');
  if (!mustRefuse && hasForeignPersona) mustRefuse = 'persona of another user';

  // Mutations with input the document allows go to throw-away users only.
  let pool = spec.subject.pool;
  if (op.mutating && pool !== 'temp' && !mustRefuse) pool = 'temp';
  const subject = entryOf(world, pool, spec.subject.index);
  const others = [...world.sentinels, ...world.temps].filter((u) => u.id !== subject.id && u.personas.length > 0);
  const other = others[spec.subject.other % Math.max(1, others.length)];

  const pathValues: Record<string, string> = {};
  const sentinelIds = new Set(world.sentinels.flatMap((u) => [u.id, ...u.personas]));
  const namedSentinels: string[] = [];
  let url = op.path;
  op.pathParams.forEach((param, i) => {
    const part = spec.path[i] as PathPart;
    let value: string | undefined;
    let raw: string | undefined;
    switch (part.kind) {
      case 'user-id':
        value = subject.id;
        break;
      case 'persona-id':
        value = subject.personas[spec.subject.persona % Math.max(1, subject.personas.length)] ?? spec.spareId;
        break;
      case 'foreign-persona-id':
        value = other?.personas[spec.subject.persona % other.personas.length] ?? spec.spareId;
        break;
      case 'user-email':
        value = variantOf(subject.email, part.variant);
        break;
      case 'user-username':
        value = variantOf(subject.username ?? subject.email, part.variant);
        break;
      case 'text':
        value = part.text;
        break;
      case 'raw':
        raw = part.raw;
        break;
    }
    if (value !== undefined) {
      if (collides(value, literals)) value = `${value}~`;
      if (sentinelIds.has(value)) namedSentinels.push(value);
      pathValues[param.name] = value;
      sentTexts.push(value);
      raw = encodeText(value);
    }
    url = url.replace(`{${param.name}}`, raw as string);
  });

  let forgedCursorColumn: string | undefined;
  const queryValues: Record<string, string> = {};
  const seen = new Map<string, number>();
  const pairs: string[] = [];
  for (const { name, value } of spec.query) {
    let text: string | undefined;
    let raw: string;
    if (value.kind === 'raw') raw = value.raw;
    else {
      if (value.kind === 'cursor') {
        const built = cursorText(value.cursor, listTable(op), world);
        text = built.text;
        if (built.forged !== undefined) forgedCursorColumn = built.forged;
      } else text = value.text;
      raw = encodeText(text);
      sentTexts.push(text);
      queryValues[name] = text;
    }
    seen.set(name, (seen.get(name) ?? 0) + 1);
    pairs.push(`${encodeText(name)}=${raw}`);
  }
  for (const [name, n] of seen) if (n > 1) delete queryValues[name];
  if (spec.rawQuery) pairs.push(spec.rawQuery);
  if (pairs.length) url += `?${pairs.join('&')}`;

  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers['content-type'] = contentType;
  const auth = authHeader(spec.auth, world, spec.spareId);
  if (auth.value !== undefined) headers.authorization = auth.value;
  if (spec.accept) headers.accept = spec.accept;
  if (spec.requestId) headers['x-request-id'] = spec.requestId;
  if (parses) collectStrings(parsedBody, sentTexts);

  return {
    method: op.method,
    url,
    headers,
    payload,
    parsedBody: parses ? parsedBody : undefined,
    bodyIsJson: parses,
    mustRefuse,
    sentinelIds: namedSentinels,
    forgedCursorColumn,
    sentTexts,
    pathValues,
    queryValues,
    tokenWithoutExp: auth.withoutExp,
  };
}

function collectStrings(value: unknown, out: string[]): void {
  const stack = [value];
  while (stack.length > 0 && out.length < 5000) {
    const v = stack.pop();
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        stack.push(x);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reproduction

/** A JavaScript expression for `text`, with repeated runs of a short unit written as `.repeat(n)`. */
export function jsExpression(text: string): string {
  const pieces: string[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    let best = { unit: '', count: 0 };
    for (let len = 1; len <= 12 && i + len <= text.length; len++) {
      const unit = text.slice(i, i + len);
      let count = 1;
      while (text.startsWith(unit, i + count * len)) count++;
      if (count * len >= 40 && count * len > best.count * best.unit.length) best = { unit, count };
    }
    if (best.count > 0) {
      if (literal) pieces.push(JSON.stringify(literal));
      literal = '';
      pieces.push(`${JSON.stringify(best.unit)}.repeat(${best.count})`);
      i += best.unit.length * best.count;
    } else {
      literal += text[i];
      i++;
    }
  }
  if (literal || pieces.length === 0) pieces.push(JSON.stringify(literal));
  return pieces.join('+');
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** No control characters and no surrogates: safe inside single quotes on a shell command line. */
const printable = (text: string) =>
  [...text].every((c) => {
    const code = c.codePointAt(0) as number;
    return code >= 0x20 && code !== 0x7f && (code < 0xd800 || code > 0xdfff);
  });

/** A curl command that sends the same request to a running service (base URL http://127.0.0.1:8000). */
export function toCurl(req: BuiltRequest): string {
  const url = `http://127.0.0.1:8000${req.url}`;
  const parts = ['curl', '-i', '-X', req.method];
  if (url.length <= 300) parts.push(shellQuote(url));
  else parts.push(`"$(node -e ${shellQuote(`process.stdout.write(${jsExpression(url)})`)})"`);
  for (const [name, value] of Object.entries(req.headers)) {
    const shown = value.length > 200 ? `${value.slice(0, 40)}...(${value.length} characters)` : value;
    parts.push('-H', shellQuote(`${name}: ${shown}`));
  }
  if (req.payload !== undefined) {
    if (Buffer.isBuffer(req.payload)) {
      parts.push(
        '--data-binary',
        `@<(printf '${[...req.payload].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}')`,
      );
    } else if (req.payload.length <= 1500 && printable(req.payload)) {
      parts.push('--data-binary', shellQuote(req.payload));
    } else {
      const expression = jsExpression(req.payload);
      parts.push(
        '--data-binary',
        expression.length <= 4000
          ? `@<(node -e ${shellQuote(`process.stdout.write(${expression})`)})`
          : `'<a body of ${req.payload.length} characters starting ${JSON.stringify(req.payload.slice(0, 60))}>'`,
      );
    }
  }
  return parts.join(' ');
}

/**
 * fast-check generators for the fuzz suite, driven by JSON schemas taken from the service's OpenAPI document:
 * values a schema accepts (including the awkward ones: boundaries, unicode edge cases, injection strings) and
 * values it refuses (wrong types, missing fields, oversized strings, huge numbers, bad formats).
 */
import fc from 'fast-check';
import type { JsonSchema } from './fuzz-openapi.js';

/** A JSON fragment sent verbatim (`1e400`, a 20-digit integer): JSON.stringify cannot write these. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object written with its entries in order, repeated keys included (`{"a":1,"a":2}`). */
export class JsonEntries {
  constructor(readonly entries: [string, unknown][]) {}
}

/** JSON text of a generated value (RawJson and JsonEntries written as they are). */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof JsonEntries) {
    return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Length as JSON Schema counts it (code points; a lone surrogate is one). */
export function schemaLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** NUL, surrogates, direction marks, combining marks, emoji, odd case mappings, whitespace. */
export const UNICODE_EDGE = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\udc00\ud800',
  '\u202eevil\u202c',
  '\u200f\u200e',
  '\u200b',
  'e\u0301',
  'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034d',
  '\u{1F642}',
  '\u{1F469}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}',
  '\ufeff',
  '\uffff',
  '\ufffd',
  'İstanbul',
  'ß',
  'ﬀ',
  'Ａ',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'עברית',
  'العربية',
  '\t\n\r',
  ' ',
  '   ',
  '\u0085\u00a0\u2028\u2029',
  '\u001b[31m',
  '\u007f',
];

/** SQL, LIKE, JSON, path and template injection attempts. None may contain a password-hash marker. */
export const INJECTION = [
  "' or 1=1 --",
  "' OR '1'='1",
  "admin'--",
  '"; drop table users; --',
  "'; delete from personas; --",
  "1' union select id from users --",
  '%',
  '_',
  '\\',
  '%%',
  '%_%',
  '\\%',
  '\\_',
  'a%',
  '%a',
  '[a-z]',
  '*',
  '?',
  '.*',
  '{"$ne":null}',
  '[]',
  '{}',
  'null',
  'true',
  '0',
  '-1',
  'NaN',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j-style lookup, sent as the literal text
  '${jndi:ldap://x}',
  '`id`',
  '\\x00',
  '%00',
  'NULL',
  'hashed_password',
  '__proto__',
  'constructor',
];

/** Integer-looking texts no integer parameter should take: huge, signed, hex, exponent, blank, not ASCII. */
export const NUMBER_TEXTS = [
  '1e300',
  '1e3',
  '18446744073709551616',
  '9223372036854775808',
  '9007199254740993',
  '2147483648',
  '-2147483649',
  '-1',
  '-0',
  '0x10',
  '0b1',
  '0o7',
  '+',
  '-',
  '+1',
  '1.5',
  '1.',
  '.5',
  '1_000',
  'NaN',
  'Infinity',
  '-Infinity',
  '',
  ' 1',
  '1 ',
  '٣',
  '１',
  'true',
  'null',
  '[]',
  '1,2',
  '00000000000000000000001',
];

export const HUGE_NUMBERS: unknown[] = [
  1e300,
  -1e300,
  -1,
  0,
  0.5,
  -0.0001,
  2 ** 31,
  2 ** 53 + 2,
  2 ** 64,
  new RawJson('18446744073709551616'),
  new RawJson('1e400'),
  new RawJson('-1e400'),
  new RawJson('1'.repeat(400)),
  new RawJson('-0'),
  new RawJson('1.0'),
];

const WRONG_TYPES: unknown[] = [42, 0, -1, 1.5, true, false, [], {}, ['x'], { a: 'x' }, [null], [[[]]]];

/** Fields a caller may not set: sent as extra properties. */
export const EXTRA_FIELDS: [string, unknown][] = [
  ['id', '00000000-0000-7000-8000-000000000000'],
  ['is_superuser', true],
  ['is_active', false],
  ['hashed_password', 'plain'],
  ['created_at', '2000-01-01T00:00:00Z'],
  ['user_id', '00000000-0000-7000-8000-000000000000'],
  ['unknown_field', 'x'],
  ['', ''],
  ['\u0000', 'nul key'],
  ['__proto__', { is_superuser: true }],
  ['constructor', { prototype: { is_superuser: true } }],
];

export interface ValueContext {
  /** Emails that exist (sentinels, temp users), to provoke conflicts and exercise lookups. */
  emails: string[];
  /** Usernames that exist. */
  usernames: string[];
  /** Passwords that are right for some user. */
  passwords: string[];
  /** Pieces of existing names and emails, so searches find something. */
  fragments: string[];
  /** [login, password] pairs that are right, so a login or a password change gets past the check. */
  credentials: [string, string][];
}

const repeatTo = (unit: string, codePoints: number) => unit.repeat(Math.max(0, codePoints));

const fits = (s: JsonSchema) => (text: string) => {
  const n = schemaLength(text);
  return n >= (s.minLength ?? 0) && (s.maxLength === undefined || n <= s.maxLength);
};

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\u202e', '\u0301', '%', '_', '\\', "'", '"') },
);

/** Emails the `email` format accepts, mostly unique so creates succeed. */
const emailArb = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9][a-z0-9._%+-]{0,14}[a-z0-9]$/),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/),
    fc.constantFrom('test', 'example', 'io', 'co'),
  )
  .map(([local, domain, tld]) => `${local.replace(/\.\.+/g, '.')}@${domain}.${tld}`);

const dateTimeArb = fc.oneof(
  fc
    .date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-11-22T10:20:30.123Z',
    '2026-01-01T00:00:00+14:00',
    '2026-01-01T00:00:00-12:00',
    '2026-01-01t00:00:00z',
    '1970-01-01T00:00:00.123456789Z',
    '2016-12-31T23:59:60Z',
    '0001-01-01T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z',
    '1900-02-28T12:00:00Z',
  ),
);

/** Strings a string schema accepts, awkward ones included. */
export function validString(s: JsonSchema, ctx: ValueContext, name = ''): fc.Arbitrary<string> {
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as string[]));
  const ok = fits(s);
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? 512;
  const options: fc.Arbitrary<string>[] = [];
  if (s.format === 'email') {
    options.push(emailArb.filter(ok));
    const known = ctx.emails.flatMap((e) => [e, e.toUpperCase()]).filter(ok);
    if (known.length) options.push(fc.constantFrom(...known));
    options.push(fc.constantFrom('a@b.co', `${'a'.repeat(64)}@example.com`, 'x+tag@example.com', "o'hara@example.com"));
    return fc.oneof(...options);
  }
  if (s.format === 'uuid') return fc.uuid();
  if (s.format === 'date-time') return dateTimeArb;
  if (typeof s.pattern === 'string') {
    const re = new RegExp(s.pattern);
    options.push(fc.stringMatching(re).filter(ok));
    if (/user/i.test(name)) {
      const known = ctx.usernames.flatMap((u) => [u, u.toUpperCase()]).filter((u) => ok(u) && re.test(u));
      if (known.length) options.push(fc.constantFrom(...known));
    }
    return fc.oneof(...options);
  }
  const small = Math.min(max, Math.max(min, 24));
  const weighted: fc.WeightedArbitrary<string>[] = [
    { weight: 6, arbitrary: fc.string({ minLength: min, maxLength: small }) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: small }) },
    { weight: 1, arbitrary: fc.string({ unit: anyUnit, minLength: min, maxLength: small }) },
  ];
  const edges = [...UNICODE_EDGE, ...INJECTION, ...ctx.fragments].filter(ok);
  if (edges.length) weighted.push({ weight: 3, arbitrary: fc.constantFrom(...edges) });
  const boundaries = [
    repeatTo('x', max),
    repeatTo('\u{1F642}', max),
    repeatTo('é', max),
    repeatTo('e\u0301', Math.floor(max / 2)),
    repeatTo('%', max),
    repeatTo('x', min),
  ].filter(ok);
  if (boundaries.length) weighted.push({ weight: 1, arbitrary: fc.constantFrom(...boundaries) });
  if (/mail|user/i.test(name)) {
    const known = [...ctx.emails, ...ctx.usernames].flatMap((e) => [e, e.toUpperCase(), ` ${e} `]).filter(ok);
    if (known.length) weighted.push({ weight: 6, arbitrary: fc.constantFrom(...known) });
  }
  const passwords = /password/i.test(name) ? ctx.passwords.filter(ok) : [];
  if (passwords.length) weighted.push({ weight: 4, arbitrary: fc.constantFrom(...passwords) });
  return fc.oneof(...weighted);
}

/** Values a string schema refuses. */
export function malformedString(s: JsonSchema): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [fc.constantFrom(...WRONG_TYPES, ...HUGE_NUMBERS)];
  if (!s.nullable) options.push(fc.constant(null));
  const min = s.minLength ?? 0;
  if (min > 0) options.push(fc.constant(repeatTo('x', min - 1)));
  if (s.maxLength !== undefined) {
    const over = s.maxLength + 1;
    options.push(
      fc.constantFrom(repeatTo('x', over), repeatTo('é', over), repeatTo('\u{1F642}', over), 'x'.repeat(100_000)),
    );
  }
  if (typeof s.pattern === 'string') {
    const re = new RegExp(s.pattern);
    options.push(
      fc
        .constantFrom('a b', 'ab!', 'ünïcode', 'a\u0000b', "' or 1=1 --", '%_%', 'abc\n', 'a/b', '...\u202e')
        .filter((t) => !re.test(t)),
    );
  }
  if (s.format === 'email') {
    options.push(
      fc.constantFrom(
        'not-an-email',
        '@',
        'a@',
        '@b.co',
        'a@b',
        'a b@c.de',
        'a@@b.co',
        `${'a'.repeat(65)}@example.com`,
        'a\u0000@b.co',
        '"quoted"@example.com',
        'a@b.co\n',
        "' or 1=1 --@x.io",
      ),
    );
  }
  if (s.format === 'uuid') {
    options.push(
      fc.constantFrom(
        'not-a-uuid',
        '00000000-0000-0000-0000-00000000000g',
        '{01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a}',
        '01936f3e8c1a7b2e9d4f2a6b8c0e1f3a',
        '01936f3e-8c1a-7b2e-9d4f-2a6b8c0e1f3a0',
        "' or 1=1 --",
      ),
    );
  }
  if (s.format === 'date-time') {
    options.push(
      fc.constantFrom(
        'yesterday',
        '2026-13-01T00:00:00Z',
        '2026-02-30T00:00:00Z',
        '2026-01-01T25:00:00Z',
        '2026-01-01',
        '10000-01-01T00:00:00Z',
        '2026-01-01T00:00:00',
        '1e300',
        "2026-01-01T00:00:00Z' or 1=1 --",
      ),
    );
  }
  return fc.oneof(...options);
}

function validInteger(s: JsonSchema): fc.Arbitrary<number> {
  const min = typeof s.minimum === 'number' ? s.minimum : -(2 ** 31);
  const max = typeof s.maximum === 'number' ? s.maximum : min + 1000;
  const edges = [min, max, Math.min(max, min + 1)];
  // Unbounded above: the document allows any integer, so the service must cope with the big ones too.
  if (s.maximum === undefined) edges.push(2 ** 31 - 1, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER);
  return fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min, max: Math.min(max, min + 20) }) },
    { weight: 2, arbitrary: fc.integer({ min, max }) },
    { weight: 1, arbitrary: fc.constantFrom(...edges) },
  );
}

function malformedInteger(s: JsonSchema): fc.Arbitrary<unknown> {
  const options: unknown[] = [...HUGE_NUMBERS, 1.5, '1', 'x', true, null, [], {}];
  if (typeof s.minimum === 'number') options.push(s.minimum - 1);
  if (typeof s.maximum === 'number') options.push(s.maximum + 1);
  return fc.constantFrom(...options);
}

/** Values a schema accepts. */
export function validValue(s: JsonSchema, ctx: ValueContext, name = ''): fc.Arbitrary<unknown> {
  const base = validNonNull(s, ctx, name);
  return s.nullable ? fc.oneof({ weight: 5, arbitrary: base }, { weight: 1, arbitrary: fc.constant(null) }) : base;
}

function validNonNull(s: JsonSchema, ctx: ValueContext, name: string): fc.Arbitrary<unknown> {
  switch (s.type) {
    case 'string':
      return validString(s, ctx, name);
    case 'integer':
      return validInteger(s);
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const items = s.items ? validValue(s.items, ctx, name) : fc.jsonValue();
      return fc.array(items, { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) });
    }
    case 'object':
      return validObject(s, ctx);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** An object with every required property and any of the optional ones, each valid. */
export function validObject(s: JsonSchema, ctx: ValueContext): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.entries<JsonSchema>(s.properties ?? {});
  const required = new Set<string>(s.required ?? []);
  if (props.length === 0) return fc.constant({});
  return fc
    .tuple(
      ...props.map(([key, schema]) =>
        required.has(key)
          ? validValue(schema, ctx, key).map((v) => ({ present: true, v }))
          : fc.oneof(
              fc.constant({ present: false, v: undefined as unknown }),
              validValue(schema, ctx, key).map((v) => ({ present: true, v })),
            ),
      ),
    )
    .map((parts) => {
      const out: Record<string, unknown> = {};
      parts.forEach((part, i) => {
        if (part.present) out[(props[i] as [string, JsonSchema])[0]] = part.v;
      });
      return out;
    });
}

/** Values a schema refuses (for an object: one field wrong, a required one missing, or not an object). */
export function malformedValue(s: JsonSchema, ctx: ValueContext): fc.Arbitrary<unknown> {
  switch (s.type) {
    case 'string':
      return malformedString(s);
    case 'integer':
    case 'number':
      return malformedInteger(s);
    case 'boolean':
      return fc.constantFrom('true', 'false', 1, 0, 'yes', null, [], {});
    case 'array': {
      const options: fc.Arbitrary<unknown>[] = [fc.constantFrom('x', 1, {}, null, true)];
      if (s.items) {
        options.push(
          fc.tuple(validValue(s.items, ctx), malformedValue(s.items, ctx)).map(([good, bad]) => [good, bad]),
        );
        if (s.maxItems !== undefined) {
          const limit = s.maxItems + 1;
          options.push(validValue(s.items, ctx).map((item) => Array.from({ length: limit }, () => item)));
        }
      }
      return fc.oneof(...options);
    }
    case 'object':
      return malformedObject(s, ctx);
    default:
      return fc.constantFrom(...WRONG_TYPES);
  }
}

export function malformedObject(s: JsonSchema, ctx: ValueContext): fc.Arbitrary<unknown> {
  const props = Object.entries<JsonSchema>(s.properties ?? {});
  const required: string[] = s.required ?? [];
  const base = validObject(s, ctx);
  const options: fc.Arbitrary<unknown>[] = [
    fc.constantFrom([], 'x', 1, null, true, [{}], new RawJson('1e400')),
    // Duplicate keys: the last one wins in JSON.parse, whatever the order.
    fc
      .tuple(base, fc.constantFrom(...(props.length ? props.map(([k]) => k) : ['x'])), fc.constantFrom(...WRONG_TYPES))
      .map(([obj, key, bad]) => new JsonEntries([...Object.entries(obj), [key, bad]])),
  ];
  if (props.length) {
    options.push(
      fc.tuple(base, fc.integer({ min: 0, max: props.length - 1 })).chain(([obj, i]) => {
        const [key, schema] = props[i] as [string, JsonSchema];
        return malformedValue(schema, ctx).map((bad) => ({ ...obj, [key]: bad }));
      }),
    );
  }
  if (required.length) {
    options.push(
      fc.tuple(base, fc.subarray(required, { minLength: 1 })).map(([obj, drop]) => {
        const out = { ...obj };
        for (const key of drop) delete out[key];
        return out;
      }),
    );
  }
  return fc.oneof(...options);
}

/**
 * A body that authenticates: the right password for a login name, or (a password change) the current one.
 * Undefined when the schema has no password field it could put one in.
 */
export function credentialBody(s: JsonSchema, ctx: ValueContext): fc.Arbitrary<Record<string, unknown>> | undefined {
  const names = Object.keys(s.properties ?? {});
  const password = names.find((n) => /password/i.test(n) && !/new/i.test(n));
  if (!password || ctx.credentials.length === 0) return undefined;
  const login = names.find((n) => /user|mail|login/i.test(n));
  return fc
    .tuple(validObject(s, ctx), fc.constantFrom(...ctx.credentials))
    .map(([obj, [name, secret]]) => ({ ...obj, ...(login ? { [login]: name } : {}), [password]: secret }));
}

/** A valid or malformed object, now and then with fields a caller may not set or credentials that are right. */
export function bodyValue(s: JsonSchema, ctx: ValueContext): fc.Arbitrary<unknown> {
  const withExtras = fc
    .tuple(validObject(s, ctx), fc.subarray(EXTRA_FIELDS, { minLength: 1, maxLength: 3 }))
    .map(([obj, extras]) => new JsonEntries([...Object.entries(obj), ...extras]));
  const options: fc.WeightedArbitrary<unknown>[] = [
    { weight: 4, arbitrary: validObject(s, ctx) },
    { weight: 5, arbitrary: malformedValue(s, ctx) },
    { weight: 1, arbitrary: withExtras },
  ];
  const credentials = credentialBody(s, ctx);
  if (credentials) options.push({ weight: 3, arbitrary: credentials });
  return fc.oneof(...options);
}

/** URL text (query or path) for a value of this schema, as a client would write it. */
export function validText(s: JsonSchema, ctx: ValueContext, name: string): fc.Arbitrary<string> {
  switch (s.type) {
    case 'integer':
      return validInteger(s).map(String);
    case 'boolean':
      return fc.constantFrom('true', 'false');
    case 'string':
      return validString(s, ctx, name);
    default:
      return fc.string();
  }
}

/** Integers past what a database column or a JavaScript number holds exactly. */
export const HUGE_TEXTS = [
  '1e300',
  '18446744073709551616',
  '9223372036854775808',
  '9223372036854775807',
  '-9223372036854775809',
  '2147483648',
  '9007199254740993',
  '1'.repeat(40),
];

export function malformedText(s: JsonSchema): fc.Arbitrary<string> {
  const options: fc.WeightedArbitrary<string>[] = [
    { weight: 3, arbitrary: fc.constantFrom(...UNICODE_EDGE) },
    { weight: 2, arbitrary: fc.constantFrom(...INJECTION) },
  ];
  switch (s.type) {
    case 'integer':
      options.push(
        { weight: 6, arbitrary: fc.constantFrom(...HUGE_TEXTS) },
        { weight: 6, arbitrary: fc.constantFrom(...NUMBER_TEXTS) },
      );
      if (typeof s.minimum === 'number') options.push({ weight: 2, arbitrary: fc.constant(String(s.minimum - 1)) });
      if (typeof s.maximum === 'number') options.push({ weight: 2, arbitrary: fc.constant(String(s.maximum + 1)) });
      break;
    case 'boolean':
      options.push({
        weight: 5,
        arbitrary: fc.constantFrom('yes', 'no', '2', '', 'TRUE', 'null', '1', '0', 'on', 'true,false'),
      });
      break;
    case 'string':
      options.push(
        { weight: 5, arbitrary: malformedString(s).filter((v): v is string => typeof v === 'string') },
        { weight: 1, arbitrary: fc.constantFrom(...NUMBER_TEXTS, ...HUGE_TEXTS) },
      );
      break;
  }
  return fc.oneof(...options);
}

/** Percent-encoding as a client would write it; lone surrogates become their (invalid) CESU-8 bytes. */
export function encodeText(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (code >= 0xd800 && code <= 0xdfff) {
      out += [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}

/** URL text that is broken as URL text: bad percent-escapes, overlong and truncated UTF-8, raw specials. */
export const RAW_URL_TEXT = [
  '%zz',
  '%',
  '%2',
  '%E0%A4',
  '%C0%AF',
  '%ED%A0%80',
  '%FF%FE',
  '%00',
  '%2F',
  '..%2F..%2F',
  '%0d%0aSet-Cookie:%20x=1',
  '%252F',
  'a;b',
  "'",
  '%27%20or%201%3D1%20--',
  '+',
  '%20',
  'x'.repeat(101),
  'x'.repeat(5000),
];

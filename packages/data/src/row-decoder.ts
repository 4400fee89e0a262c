import type { ColumnType } from './table.js';

/** Turns a row as a driver returned it into the plain row every database gives back alike. */
export type RowDecoder = (raw: Record<string, unknown>) => Record<string, unknown>;

const decoders = new WeakMap<readonly string[], RowDecoder>();

/**
 * The decoder of one selection of a table's columns, made once per column list (the lists come from TableInfo
 * and keep their identity) and kept: each row then costs one object literal of the selected columns.
 */
export function rowDecoder(types: ReadonlyMap<string, ColumnType>, columns: readonly string[]): RowDecoder {
  let decoder = decoders.get(columns);
  if (!decoder) {
    decoder = compileDecoder(types, columns);
    decoders.set(columns, decoder);
  }
  return decoder;
}

const nullable =
  (decode: (value: {}) => unknown) =>
  (value: unknown): unknown =>
    value === null || value === undefined ? null : decode(value);

const DECODERS: Record<ColumnType, (value: unknown) => unknown> = {
  boolean: nullable((value) => value === true || value === 1 || value === '1'),
  integer: nullable((value) => Number(value)),
  timestamp: nullable((value) => decodeTimestamp(value)),
  string: nullable((value) => (typeof value === 'string' ? value : String(value))),
};

/**
 * The row is built by an object literal generated for the column list (`{"id": d[0](raw["id"]), ...}`):
 * every row of a list then has the same shape from the start, where assigning the columns one by one in a
 * loop cost ~1.5 us a row of 10 columns against ~0.2 us (Node 20). Column names come from the table's
 * definition, never from input, and are embedded as JSON string literals. Only the selected columns are
 * copied, so nothing else a driver returned (a secret column) can slip through.
 */
function compileDecoder(types: ReadonlyMap<string, ColumnType>, columns: readonly string[]): RowDecoder {
  const decode = columns.map((column) => DECODERS[types.get(column) ?? 'string']);
  // `__proto__` as a literal key would set the prototype instead of a property.
  if (columns.includes('__proto__')) {
    return (raw) => Object.fromEntries(columns.map((column, i) => [column, decode[i]?.(raw[column])]));
  }
  const fields = columns.map((column, i) => `${JSON.stringify(column)}: d[${i}](raw[${JSON.stringify(column)}])`);
  return new Function('d', `return (raw) => ({ ${fields.join(', ')} });`)(decode) as RowDecoder;
}

/**
 * A timestamp as an ISO-8601 string in `Date.prototype.toISOString`'s form. A string already in that form
 * (what SQLite stores: the repository writes `toISOString()`) is returned as it is: parsing and formatting it
 * again gives the same string and cost ~2.3 us per value on Node 20, more than the rest of a row's decoding.
 */
export function decodeTimestamp(value: unknown): string {
  if (typeof value === 'string' && isCanonicalIso(value)) return value;
  return (value instanceof Date ? value : new Date(value as string)).toISOString();
}

const CANONICAL = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Whether `toISOString()` of the date `s` names is `s` itself: `YYYY-MM-DDTHH:mm:ss.sssZ` with every field in
 * range. An out-of-range field (month 13, 24:00, February 30) is left to `Date`, which rolls it over or fails
 * exactly as before.
 */
function isCanonicalIso(s: string): boolean {
  if (s.length !== 24 || !CANONICAL.test(s)) return false;
  const year = twoDigits(s, 0) * 100 + twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  if (month < 1 || month > 12 || day < 1 || day > (DAYS[month - 1] as number)) return false;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return false;
  return twoDigits(s, 11) < 24 && twoDigits(s, 14) < 60 && twoDigits(s, 17) < 60;
}

/**
 * The number two digits at `at` spell. A module function, not a closure made per call: under tsx (keepNames)
 * every closure made costs a `__name` call, which made this check ~2 us instead of ~0.1 us.
 */
function twoDigits(s: string, at: number): number {
  return (s.charCodeAt(at) - 48) * 10 + s.charCodeAt(at + 1) - 48;
}

/**
 * Value checks shared by the user and persona parts of the export/import formats (src/users/user-transfer.ts,
 * src/personas/persona-transfer.ts): quoting values in error messages, UUIDs, timestamps, text the databases
 * would not store as given.
 */

// Anything shaped like a bcrypt or argon2 hash, wherever it appears: a CSV whose columns are shifted puts
// the hash under another name, and error messages quote values.
export const HASH_LIKE = /\$(?:2[abxy]?|argon2(?:id|i|d))\$/;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ISO-8601 / RFC 3339, with "T" or a space (Python's str(datetime)), optional seconds, any fraction.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

// NUL (PostgreSQL refuses it in text, SQLite would store it and match it oddly) and UTF-16 surrogates
// without their pair (every driver would silently store U+FFFD instead).
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A value for an error message: quoted, shortened, and never a password hash. */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value));
  if (HASH_LIKE.test(text)) return '(a value shaped like a password hash)';
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}

/** Why a string cannot be stored as it is (a NUL character or a lone surrogate), or undefined when it can. */
export function unstorable(text: string): string | undefined {
  const m = UNSTORABLE.exec(text);
  if (!m) return undefined;
  return m[0] === '\0' ? 'contains a NUL character' : 'contains an unpaired UTF-16 surrogate';
}

/** Length in characters (code points), as JSON Schema's maxLength and the databases' varchar(n) count it. */
export function characters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** true/false/1/0, as JSON values or as text (CSV, or JSON written by tools that stringify everything). */
export function parseBoolean(value: unknown): boolean | undefined {
  if (value === true || value === 1) return true;
  if (value === false || value === 0) return false;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  return undefined;
}

/**
 * An ISO-8601 timestamp as the canonical UTC string the repository stores (what an export writes back).
 * Without an offset it is read as UTC: the predecessor services stored naive UTC datetimes.
 */
export function parseTimestamp(value: string): string | undefined {
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((p) => Number(p ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  if (year < 1000 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  // Date.UTC rolls 31 February over into March; a day that does not exist is an error instead.
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2) || 0);
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  }
  return new Date(date.getTime() - offsetMinutes * 60_000).toISOString();
}

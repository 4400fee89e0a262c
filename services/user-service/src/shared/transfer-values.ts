/**
 * Value checks shared by the user and persona parts of the export/import formats (src/users/user-transfer.ts,
 * src/personas/persona-transfer.ts): quoting values in error messages, UUIDs, timestamps, and the API's field
 * rules' messages (the rules themselves are the API's schemas, see http/validators.ts bodyValidator).
 */

// Anything shaped like a bcrypt or argon2 hash, wherever it appears: a CSV whose columns are shifted puts
// the hash under another name, and error messages quote values.
export const HASH_LIKE = /\$(?:2[abxy]?|argon2(?:id|i|d))\$/;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ISO-8601 / RFC 3339, with "T" or a space (Python's str(datetime)), optional seconds, any fraction.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** A value for an error message: quoted, shortened, and never a password hash. */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value));
  if (HASH_LIKE.test(text)) return '(a value shaped like a password hash)';
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
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

/**
 * A record's breaches of the API's field rules (the details a 422 carries), one message each, naming the field
 * as the API's `loc` does and saying what the API's `msg` says: `personas[0].name: String should have at most
 * 128 characters`. `at` prefixes the path (a persona inside its user's record).
 */
export function ruleProblems(details: readonly { loc: (string | number)[]; msg: string }[], at = ''): string[] {
  return details.map((detail) => {
    let path = at;
    for (const part of detail.loc.slice(1)) {
      path += typeof part === 'number' ? `[${part}]` : `${path ? '.' : ''}${part}`;
    }
    return `${path}: ${detail.msg}`;
  });
}

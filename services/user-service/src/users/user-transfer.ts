/**
 * The file formats `user-service export` writes and `user-service import` reads: NDJSON (one JSON object a
 * line) and CSV (a header line, then one record a user). Both carry the full row, password hash included,
 * because their purpose is moving a users table between databases, or over from the Python predecessor
 * services, without asking anyone to reset a password. Each record also carries the user's personas (see
 * src/personas/persona-transfer.ts): in NDJSON a `personas` array, in CSV the same array as JSON text in a
 * last `personas` column, so one file is the whole move and a user's line is written or refused with its
 * personas. Files are read and written a record at a time, so a table of any size passes through in
 * constant memory.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Type } from '@sinclair/typebox';
import { parse as parseCsv } from 'csv-parse';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { bodyValidator } from '../http/validators.js';
import {
  type ImportedPersona,
  JsonText,
  type TransferredPersona,
  validatePersonas,
} from '../personas/persona-transfer.js';
import { HASH_LIKE, parseBoolean, parseTimestamp, quote, ruleProblems, UUID } from '../shared/transfer-values.js';
import { HASHED_PASSWORD_MAX_LENGTH } from './user.fields.js';
import { UserCreate } from './user.schemas.js';
import { normalizeEmail, normalizeUsername } from './user.service.js';
import type { UserOptional, UserRow } from './user.table.js';

export { quote };

export type TransferFormat = 'ndjson' | 'csv';
export const TRANSFER_FORMATS: readonly TransferFormat[] = ['ndjson', 'csv'];

/** Every column of `users`, in the order both formats write them (then `personas`). */
export const TRANSFER_FIELDS = [
  'id',
  'email',
  'username',
  'full_name',
  'hashed_password',
  'is_active',
  'is_superuser',
  // Absent from older exports and from the predecessors' files: such users import as not verified.
  'is_verified',
  'verified_at',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof UserRow)[];

/** The field (NDJSON) or last column (CSV) holding the user's personas. */
export const PERSONAS_FIELD = 'personas';
const CSV_COLUMNS = [...TRANSFER_FIELDS, PERSONAS_FIELD];
const KNOWN_FIELDS: ReadonlySet<string> = new Set(CSV_COLUMNS);

/** A page of users' personas by user id, as export reads them; a user missing from it has none. */
export type PersonasByUser = ReadonlyMap<string, readonly TransferredPersona[]>;

/** What an import writes: a complete user, except what the repository may fill in (id, flags, timestamps). */
export type ImportedUser = Pick<UserRow, 'email' | 'username' | 'full_name' | 'hashed_password'> &
  Partial<Pick<UserRow, UserOptional>>;

/** A whole-file problem (unreadable header, broken CSV quoting): reading cannot go on past it. */
export class TransferFormatError extends Error {
  override name = 'TransferFormatError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** The explicit format, else the one the file name suggests, else NDJSON (also for stdout). */
export function resolveFormat(explicit: TransferFormat | undefined, file: string | undefined): TransferFormat {
  if (explicit) return explicit;
  return file?.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson';
}

// ---------------------------------------------------------------------------------------------- writing

function ordered(row: UserRow, personas: PersonasByUser): Record<string, unknown> {
  const out = {} as Record<string, unknown>;
  for (const field of TRANSFER_FIELDS) out[field] = row[field];
  out[PERSONAS_FIELD] = personas.get(row.id) ?? [];
  return out;
}

/** One NDJSON line a user, personas nested; fields in a fixed order so two exports of the same table diff cleanly. */
export function toNdjson(rows: readonly UserRow[], personas: PersonasByUser): string {
  return rows.map((row) => `${JSON.stringify(ordered(row, personas))}\n`).join('');
}

/**
 * CSV records for a page of users, with the header when `header` is set. Booleans are written as
 * true/false (csv-stringify's default would write "1" and ""), null as an empty cell, the personas as a
 * JSON array (`[]` for none). Cells are not defused against spreadsheet formulas: this is a transfer format,
 * and altering values would break the round trip.
 */
export function toCsv(rows: readonly UserRow[], header: boolean, personas: PersonasByUser): string {
  return stringifyCsv(
    rows.map((row) => ({ ...ordered(row, personas), [PERSONAS_FIELD]: JSON.stringify(personas.get(row.id) ?? []) })),
    {
      header,
      columns: CSV_COLUMNS,
      cast: { boolean: (value) => (value ? 'true' : 'false') },
    },
  );
}

// ---------------------------------------------------------------------------------------------- reading

/** One unit of input: a record to validate, a line that could not be read as one, or an empty line. */
export type SourceItem =
  | { kind: 'record'; line: number; fields: Record<string, unknown>; bytesRead: number }
  | { kind: 'unreadable'; line: number; error: string; bytesRead: number }
  | { kind: 'empty'; line: number; bytesRead: number };

export function readUsers(format: TransferFormat, input: Readable): AsyncGenerator<SourceItem> {
  return format === 'csv' ? readCsv(input) : readNdjson(input);
}

/** NDJSON, split by hand rather than with readline, so reading pauses while the caller awaits the database. */
async function* readNdjson(input: Readable): AsyncGenerator<SourceItem> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let line = 0;
  let bytesRead = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    const text = rest + decoder.write(chunk);
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      yield ndjsonItem(text.slice(start, end), ++line, bytesRead);
      start = end + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.length > 0) yield ndjsonItem(rest, ++line, bytesRead);
}

function ndjsonItem(raw: string, line: number, bytesRead: number): SourceItem {
  const text = (line === 1 ? raw.replace(/^\uFEFF/, '') : raw).trim();
  if (text === '') return { kind: 'empty', line, bytesRead };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be a password hash: say less.
    return { kind: 'unreadable', line, error: 'not valid JSON', bytesRead };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'unreadable', line, error: 'not a JSON object', bytesRead };
  }
  return { kind: 'record', line, fields: value as Record<string, unknown>, bytesRead };
}

const CSV_PROBLEMS: Record<string, string> = {
  CSV_INVALID_CLOSING_QUOTE: 'a quoted cell has text after its closing quote',
  CSV_QUOTE_NOT_CLOSED: 'a quoted cell is never closed',
  CSV_INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted cell',
  CSV_MAX_RECORD_SIZE: 'a record is too large',
};

/**
 * CSV with a header line naming the columns (any order, any subset that includes email and
 * hashed_password; `personas` is optional). An empty cell means "no value": null, the default for flags and
 * timestamps, no personas.
 * Broken quoting stops the read, because the parser cannot tell where the next record starts.
 */
async function* readCsv(input: Readable): AsyncGenerator<SourceItem> {
  // A parse error would destroy the stream and drop the records parsed before it in the same chunk, so the
  // parser reports it instead (on_skip), and reading stops once those earlier records are through.
  let broken: { code: string; records: number } | undefined;
  const parser = parseCsv({
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: false,
    skip_records_with_error: true,
    on_skip: (error) => {
      const { records } = error as unknown as { records?: number };
      broken ??= { code: error?.code ?? 'CSV_ERROR', records: records ?? 0 };
      return undefined;
    },
  });
  input.on('error', (error) => parser.destroy(error));
  input.pipe(parser);
  let columns: string[] | undefined;
  // csv-parse counts a CRLF inside a quoted cell as two lines, and carries that into every later count.
  let extraLines = 0;
  let lastLine = 0;
  for await (const { record, info } of parser as AsyncIterable<CsvRecord>) {
    if (broken && info.records > broken.records) break;
    extraLines += record.reduce((n, cell) => n + count(cell, '\r\n'), 0);
    const breaks = record.reduce((n, cell) => n + count(cell, '\n') + count(cell, '\r') - count(cell, '\r\n'), 0);
    lastLine = info.lines - extraLines;
    const line = lastLine - breaks;
    if (record.length === 1 && record[0] === '') {
      yield { kind: 'empty', line, bytesRead: info.bytes };
      continue;
    }
    if (!columns) {
      columns = checkHeader(record, line);
      continue;
    }
    if (record.length !== columns.length) {
      const error = `has ${record.length} cells, the header has ${columns.length}`;
      yield { kind: 'unreadable', line, error, bytesRead: info.bytes };
      continue;
    }
    const fields: Record<string, unknown> = {};
    columns.forEach((column, i) => {
      const cell = record[i];
      if (cell !== undefined && cell !== '') fields[column] = column === PERSONAS_FIELD ? new JsonText(cell) : cell;
    });
    yield { kind: 'record', line, fields, bytesRead: info.bytes };
  }
  if (broken) {
    parser.destroy();
    input.destroy();
    // The parser's own message quotes file content; name the problem and the line instead.
    const problem = CSV_PROBLEMS[broken.code] ?? `unreadable CSV (${broken.code})`;
    // Reported at the line where the broken record starts, which is where to look for the stray quote.
    throw new TransferFormatError(`${problem}; the rest of the file was not read`, lastLine + 1);
  }
  if (!columns) throw new TransferFormatError('the file has no CSV header line', 1);
}

interface CsvRecord {
  record: string[];
  info: { lines: number; records: number; bytes: number };
}

function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

function checkHeader(record: string[], line: number): string[] {
  const columns = record.map((c) => c.trim());
  const seen = new Set<string>();
  for (const column of columns) {
    if (!KNOWN_FIELDS.has(column)) {
      throw new TransferFormatError(
        `the CSV header names an unknown column ${quote(column)} (known: ${CSV_COLUMNS.join(', ')})`,
        line,
      );
    }
    if (seen.has(column)) throw new TransferFormatError(`the CSV header names column ${quote(column)} twice`, line);
    seen.add(column);
  }
  for (const required of ['email', 'hashed_password']) {
    if (!seen.has(required)) throw new TransferFormatError(`the CSV header has no "${required}" column`, line);
  }
  return columns;
}

// ------------------------------------------------------------------------------------------- validation

// The API's own rules for the fields a sign-up sets, compiled by the API's own body validator: UserCreate
// without the password (an import carries it hashed) and without personas (checked one by one with
// PersonaCreate, see persona-transfer.ts: an imported user may have more than a sign-up's 50).
const checkUserFields = bodyValidator(Type.Omit(UserCreate, ['password', 'personas']));
const API_FIELDS = ['email', 'username', 'full_name'] as const;
// The two hash families PasswordHasher verifies: bcrypt as passlib and node bcrypt write it, argon2id PHC.
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const ARGON2ID = /^\$argon2id\$v=(?:16|19)\$m=\d{1,10},t=\d{1,10},p=\d{1,3}\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}$/;

export type ValidationResult =
  | { ok: true; user: ImportedUser; personas: ImportedPersona[] }
  | { ok: false; error: string; email: string | null };

/**
 * Checks one record and turns it into a row to insert, applying the service's normalisation, and its
 * personas into rows to insert with it. Every problem of the record, its personas' included, is named in one
 * message. Messages quote offending values, except the password hash.
 */
export function validateUser(fields: Record<string, unknown>): ValidationResult {
  const problems: string[] = [];
  for (const key of Object.keys(fields)) if (!KNOWN_FIELDS.has(key)) problems.push(`unknown field ${quote(key)}`);

  // Checked as a request body is, then normalised as the service normalises a sign-up.
  const api: Record<string, unknown> = {};
  for (const field of API_FIELDS) if (fields[field] !== undefined) api[field] = fields[field];
  problems.push(...ruleProblems(checkUserFields(api)));
  const rawEmail = fields.email;
  const email = typeof rawEmail === 'string' ? normalizeEmail(rawEmail) : null;
  const username = typeof fields.username === 'string' && fields.username ? normalizeUsername(fields.username) : null;
  const fullName = typeof fields.full_name === 'string' ? fields.full_name : null;

  const hash = fields.hashed_password;
  if (hash === undefined || hash === null || hash === '') problems.push('hashed_password is missing');
  else if (
    typeof hash !== 'string' ||
    hash.length > HASHED_PASSWORD_MAX_LENGTH ||
    !(BCRYPT.test(hash) || ARGON2ID.test(hash))
  ) {
    problems.push('hashed_password is not an argon2id or bcrypt ($2a$/$2b$/$2y$) hash');
  }

  const user: ImportedUser = {
    email: email ?? '',
    username,
    full_name: fullName,
    hashed_password: typeof hash === 'string' ? hash : '',
  };

  const id = fields.id;
  if (id !== undefined && id !== null) {
    if (typeof id === 'string' && UUID.test(id.trim())) user.id = id.trim().toLowerCase();
    else problems.push(`id ${quote(id)} is not a UUID`);
  }
  for (const flag of ['is_active', 'is_superuser', 'is_verified'] as const) {
    const value = fields[flag];
    if (value === undefined || value === null) continue;
    const parsed = parseBoolean(value);
    if (parsed === undefined) problems.push(`${flag} must be true, false, 1 or 0`);
    else user[flag] = parsed;
  }
  for (const stamp of ['created_at', 'updated_at', 'verified_at'] as const) {
    const value = fields[stamp];
    if (value === undefined || value === null) continue;
    const parsed = typeof value === 'string' ? parseTimestamp(value) : undefined;
    if (parsed === undefined) problems.push(`${stamp} ${quote(value)} is not an ISO-8601 timestamp`);
    else user[stamp] = parsed;
  }
  const personas = validatePersonas(fields[PERSONAS_FIELD], problems);

  if (problems.length > 0) {
    return { ok: false, error: problems.join('; '), email: email && !HASH_LIKE.test(email) ? email : null };
  }
  return { ok: true, user, personas };
}

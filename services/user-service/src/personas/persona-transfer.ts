/**
 * A user's personas in the files `user-service export` writes and `user-service import` reads. They travel
 * inside their user's record, so a user and its personas are one line of the file, validated, reported and
 * written together: in NDJSON a `personas` array of objects, in CSV the same array as JSON text in the
 * `personas` column. A persona keeps its id (links to /users/{id}/personas/{persona_id} keep working after
 * a move); `user_id` is not written, it is the id of the record the persona sits in.
 */
import type { RepositoryProvider } from '@user-service/data';
import { bodyValidator } from '../http/validators.js';
import { parseTimestamp, quote, ruleProblems, UUID } from '../shared/transfer-values.js';
import { PersonaRepository } from './persona.repository.js';
import { PersonaCreate } from './persona.schemas.js';
import { type PersonaRow, personaNameKey } from './persona.table.js';

/** The fields of a persona in a transfer file, in the order an export writes them. */
export const PERSONA_TRANSFER_FIELDS = [
  'id',
  'name',
  'description',
  'relation_type',
  'status',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof PersonaRow)[];

const KNOWN_FIELDS: ReadonlySet<string> = new Set(PERSONA_TRANSFER_FIELDS);

export type TransferredPersona = Pick<PersonaRow, (typeof PERSONA_TRANSFER_FIELDS)[number]>;

/** What an import writes for a persona, before the user's id is known: id, status and timestamps may be left out. */
export type ImportedPersona = Pick<PersonaRow, 'name' | 'description' | 'relation_type'> &
  Partial<Pick<PersonaRow, 'id' | 'status' | 'created_at' | 'updated_at'>>;

// The fields the API's PersonaCreate sets, checked by the API's own body validator.
const checkPersonaFields = bodyValidator(PersonaCreate);
const API_FIELDS = ['name', 'description', 'relation_type', 'status'] as const;

// ---------------------------------------------------------------------------------------------- writing

/**
 * The personas of the given users (one page of an export), grouped by user id, each user's in primary-key
 * (creation) order. Read with a filtered query paged by keyset cursor, so only this page's personas are held.
 */
export async function personasOf(
  store: RepositoryProvider,
  userIds: readonly string[],
  pageSize: number,
): Promise<Map<string, TransferredPersona[]>> {
  const byUser = new Map<string, TransferredPersona[]>();
  for await (const rows of new PersonaRepository(store).ofUsers(userIds, pageSize)) {
    for (const row of rows) {
      const list = byUser.get(row.user_id);
      if (list) list.push(ordered(row));
      else byUser.set(row.user_id, [ordered(row)]);
    }
  }
  return byUser;
}

/** A persona's transfer fields in a fixed order, so two exports of the same table diff cleanly. */
function ordered(row: PersonaRow): TransferredPersona {
  const out = {} as Record<string, unknown>;
  for (const field of PERSONA_TRANSFER_FIELDS) out[field] = row[field];
  return out as unknown as TransferredPersona;
}

// ------------------------------------------------------------------------------------------- validation

/** A CSV cell holding JSON, parsed when validated; NDJSON's values are JSON already, never this. */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * Checks a record's `personas` value (an array, or in CSV its JSON text; absent or null mean none) with the API's field rules, appends each problem to `problems` (naming the persona by its index), and
 * returns the personas to write. One user's names must differ without regard to case and surrounding spaces.
 */
export function validatePersonas(value: unknown, problems: string[]): ImportedPersona[] {
  if (value === undefined || value === null) return [];
  let list = value;
  if (value instanceof JsonText) {
    try {
      list = JSON.parse(value.text);
    } catch {
      problems.push('personas is not valid JSON');
      return [];
    }
  }
  if (!Array.isArray(list)) {
    problems.push('personas must be an array of objects');
    return [];
  }
  const personas: ImportedPersona[] = [];
  const names = new Map<string, number>();
  const ids = new Map<string, number>();
  list.forEach((item: unknown, index) => {
    const at = `personas[${index}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const persona = validatePersona(item as Record<string, unknown>, at, problems);
    if (!persona) return;
    // The service's rule for "the same name" (personaNameKey): without regard to case or surrounding spaces.
    const key = personaNameKey(persona.name);
    const sameName = names.get(key);
    if (sameName !== undefined) {
      problems.push(
        `${at}.name ${quote(persona.name)} repeats personas[${sameName}].name (names differ without regard to case and surrounding spaces)`,
      );
    } else names.set(key, index);
    if (persona.id) {
      const sameId = ids.get(persona.id);
      if (sameId !== undefined) problems.push(`${at}.id ${quote(persona.id)} repeats personas[${sameId}].id`);
      else ids.set(persona.id, index);
    }
    personas.push(persona);
  });
  return personas;
}

/** One persona object, or undefined when it has a problem (each one is added to `problems`). */
function validatePersona(fields: Record<string, unknown>, at: string, problems: string[]): ImportedPersona | undefined {
  const before = problems.length;
  for (const key of Object.keys(fields)) {
    if (!KNOWN_FIELDS.has(key)) problems.push(`${at}: unknown field ${quote(key)}`);
  }
  // The API's rules (PersonaCreate, through the API's body validator), with the API's messages.
  const api: Record<string, unknown> = {};
  for (const field of API_FIELDS) if (fields[field] !== undefined) api[field] = fields[field];
  problems.push(...ruleProblems(checkPersonaFields(api), at));
  // Only used when every check passed, so the fields are what PersonaCreate says they are.
  const input = api as PersonaCreate;
  const persona: ImportedPersona = {
    name: input.name,
    description: input.description ?? null,
    relation_type: input.relation_type,
  };
  if (input.status !== undefined) persona.status = input.status;

  const id = fields.id;
  if (id !== undefined && id !== null) {
    if (typeof id === 'string' && UUID.test(id.trim())) persona.id = id.trim().toLowerCase();
    else problems.push(`${at}.id ${quote(id)} is not a UUID`);
  }
  for (const stamp of ['created_at', 'updated_at'] as const) {
    const value = fields[stamp];
    if (value === undefined || value === null) continue;
    const parsed = typeof value === 'string' ? parseTimestamp(value) : undefined;
    if (parsed === undefined) problems.push(`${at}.${stamp} ${quote(value)} is not an ISO-8601 timestamp`);
    else persona[stamp] = parsed;
  }
  return problems.length === before ? persona : undefined;
}

/**
 * The queries personas need, on the generic repository (the only code that reaches the `personas` table).
 * Built over whatever executor the caller hands in (the database, or a unit of work's transaction), as the
 * Kysely example's repositories take theirs; it never commits.
 */
import type { Filters, NewRow, RepositoryProvider } from '@user-service/data';
import { type PageWithTotal, pageWithTotal } from '../shared/page-with-total.js';
import type { PersonaCreate, PersonaUpdate } from './persona.schemas.js';
import { type PersonaRow, personasTable } from './persona.table.js';

type PersonaOptional = 'id' | 'status' | 'name_key' | 'created_at' | 'updated_at';
export type NewPersonaRow = NewRow<PersonaRow, PersonaOptional>;

/** What the API's unique constraints mean to a client, by column (see conflictOn). */
export const PERSONA_CONFLICTS = { name_key: 'This user already has a persona with this name' } as const;

/** The row a persona created through the API (alone, or with its user) becomes: the one mapping of its input. */
export function personaRow(userId: string, input: PersonaCreate): NewPersonaRow {
  return {
    user_id: userId,
    name: input.name,
    description: input.description ?? null,
    relation_type: input.relation_type,
    ...(input.status ? { status: input.status } : {}),
  };
}

// Users whose personas one query asks for: far below every database's bound-parameter limit.
const USERS_PER_QUERY = 1000;

export class PersonaRepository {
  constructor(private readonly store: RepositoryProvider) {}

  private get table() {
    return this.store.repository(personasTable);
  }

  create(userId: string, input: PersonaCreate): Promise<PersonaRow> {
    return this.table.create(personaRow(userId, input));
  }

  /** Inserts complete rows in one statement a chunk (a user's initial personas, an import batch). */
  insertMany(rows: readonly NewPersonaRow[]): Promise<PersonaRow[]> {
    return this.table.createMany(rows);
  }

  /** The persona, only when it belongs to this user. */
  getOfUser(userId: string, personaId: string): Promise<PersonaRow | undefined> {
    return this.table.getBy({ id: personaId, user_id: userId });
  }

  pageOfUser(
    userId: string,
    paging: { skip: number; limit: number; after?: string },
  ): Promise<PageWithTotal<PersonaRow>> {
    const filters: Filters<PersonaRow> = { user_id: userId };
    const { skip, limit, after } = paging;
    return pageWithTotal(
      this.table.list({ filters, skip, limit, ...(after ? { after } : {}) }),
      this.table.count(filters),
      {
        skip,
        limit,
      },
    );
  }

  update(personaId: string, changes: PersonaUpdate): Promise<PersonaRow | undefined> {
    return this.table.update(personaId, changes);
  }

  delete(personaId: string): Promise<boolean> {
    return this.table.delete(personaId);
  }

  /** The ids among these that a persona already has, a bounded query at a time. */
  async takenIds(ids: readonly string[]): Promise<Set<string>> {
    const taken = new Set<string>();
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      const page = await this.table.list({ filters: { id: { in: chunk } }, limit: chunk.length });
      for (const row of page.items) taken.add(row.id);
    }
    return taken;
  }

  /**
   * The personas of the given users (one page of an export), in primary-key (creation) order, read with a
   * filtered query paged by keyset cursor, so only this page's personas are held.
   */
  async *ofUsers(userIds: readonly string[], pageSize: number): AsyncGenerator<PersonaRow[]> {
    for (let i = 0; i < userIds.length; i += USERS_PER_QUERY) {
      const filters = { user_id: { in: userIds.slice(i, i + USERS_PER_QUERY) } };
      let after: string | undefined;
      do {
        const page = await this.table.list({ filters, limit: pageSize, ...(after ? { after } : {}) });
        yield page.items;
        after = page.nextCursor ?? undefined;
      } while (after);
    }
  }
}

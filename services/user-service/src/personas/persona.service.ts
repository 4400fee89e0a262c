import { type DataStore, ForeignKeyViolationError } from '@user-service/data';
import { NotFoundError } from '../errors.js';
import { conflictFrom } from '../users/user.service.js';
import { usersTable } from '../users/user.table.js';
import type { PersonaCreate, PersonaUpdate } from './persona.schemas.js';
import { type PersonaRow, personasTable } from './persona.table.js';

export interface PersonaPage {
  personas: PersonaRow[];
  total: number;
  skip: number;
  limit: number;
  next_cursor: string | null;
}

/** Personas always live under a user: every method checks the pair, so a persona is never reached via another user. */
export class PersonaService {
  constructor(private readonly store: DataStore) {}

  private async requireUser(userId: string): Promise<void> {
    if (!(await this.store.repository(usersTable).exists(userId))) throw new NotFoundError('User not found');
  }

  async create(userId: string, input: PersonaCreate): Promise<PersonaRow> {
    await this.requireUser(userId);
    return this.store
      .repository(personasTable)
      .create({
        user_id: userId,
        name: input.name,
        description: input.description ?? null,
        relation_type: input.relation_type,
        ...(input.status ? { status: input.status } : {}),
      })
      .catch((error: unknown) => {
        // The user was deleted between the check above and the insert: the same answer as if it never existed.
        if (error instanceof ForeignKeyViolationError) throw new NotFoundError('User not found');
        return conflictFrom(error);
      });
  }

  async list(userId: string, skip: number, limit: number, after?: string): Promise<PersonaPage> {
    await this.requireUser(userId);
    const repo = this.store.repository(personasTable);
    const filters = { user_id: userId };
    const [page, total] = await Promise.all([
      repo.list({ filters, skip, limit, ...(after ? { after } : {}) }),
      repo.count(filters),
    ]);
    return { personas: page.items, total, skip, limit, next_cursor: page.nextCursor };
  }

  async get(userId: string, personaId: string): Promise<PersonaRow> {
    const persona = await this.store.repository(personasTable).getBy({ id: personaId, user_id: userId });
    if (persona) return persona;
    await this.requireUser(userId);
    throw new NotFoundError('Persona not found');
  }

  async update(userId: string, personaId: string, changes: PersonaUpdate): Promise<PersonaRow> {
    await this.get(userId, personaId);
    const row = await this.store.repository(personasTable).update(personaId, changes).catch(conflictFrom);
    if (!row) throw new NotFoundError('Persona not found');
    return row;
  }

  async delete(userId: string, personaId: string): Promise<void> {
    await this.get(userId, personaId);
    await this.store.repository(personasTable).delete(personaId);
  }
}

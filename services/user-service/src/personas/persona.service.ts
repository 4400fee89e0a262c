import { type DataStore, ForeignKeyViolationError } from '@user-service/data';
import { type AuditContext, recordAudit } from '../audit/audit-events.js';
import { conflictOn, NotFoundError } from '../errors.js';
import { PERSONA_CONFLICTS, PersonaRepository } from './persona.repository.js';
import type { PersonaCreate, PersonaUpdate } from './persona.schemas.js';
import type { PersonaRow } from './persona.table.js';

export interface PersonaPage {
  personas: PersonaRow[];
  total: number;
  skip: number;
  limit: number;
  next_cursor: string | null;
}

/** What personas need to know about users: whether one exists (handed in, so personas do not import users). */
export interface UserDirectory {
  exists(userId: string): Promise<boolean>;
}

const conflict = (error: unknown) => conflictOn(error, PERSONA_CONFLICTS);

/** Personas always live under a user: every method checks the pair, so a persona is never reached via another user. */
export class PersonaService {
  private readonly personas: PersonaRepository;

  constructor(
    private readonly store: DataStore,
    private readonly users: UserDirectory,
  ) {
    this.personas = new PersonaRepository(store);
  }

  private async requireUser(userId: string): Promise<void> {
    if (!(await this.users.exists(userId))) throw new NotFoundError('User not found');
  }

  async create(userId: string, input: PersonaCreate): Promise<PersonaRow> {
    await this.requireUser(userId);
    return this.personas.create(userId, input).catch((error: unknown) => {
      // The user was deleted between the check above and the insert: the same answer as if it never existed.
      if (error instanceof ForeignKeyViolationError) throw new NotFoundError('User not found');
      return conflict(error);
    });
  }

  async list(userId: string, skip: number, limit: number, after?: string): Promise<PersonaPage> {
    await this.requireUser(userId);
    const { items, ...page } = await this.personas.pageOfUser(userId, { skip, limit, ...(after ? { after } : {}) });
    return { personas: items, ...page };
  }

  async get(userId: string, personaId: string): Promise<PersonaRow> {
    const persona = await this.personas.getOfUser(userId, personaId);
    if (persona) return persona;
    await this.requireUser(userId);
    throw new NotFoundError('Persona not found');
  }

  async update(userId: string, personaId: string, changes: PersonaUpdate): Promise<PersonaRow> {
    await this.get(userId, personaId);
    const row = await this.personas.update(personaId, changes).catch(conflict);
    if (!row) throw new NotFoundError('Persona not found');
    return row;
  }

  /** Deletes the persona, recorded in the audit log in the same unit of work. */
  async delete(userId: string, personaId: string, context?: AuditContext): Promise<void> {
    await this.get(userId, personaId);
    await this.store.unitOfWork(async (uow) => {
      if (await new PersonaRepository(uow).delete(personaId)) {
        await recordAudit(uow, context, {
          event: 'persona.deleted',
          target: userId,
          detail: { persona_id: personaId },
        });
      }
    });
  }
}

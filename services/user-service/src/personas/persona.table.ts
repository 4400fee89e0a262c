import { defineTable, types } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';
import {
  PERSONA_DESCRIPTION_MAX_LENGTH,
  PERSONA_NAME_MAX_LENGTH,
  PERSONA_RELATION_TYPE_MAX_LENGTH,
  PERSONA_STATUS_MAX_LENGTH,
} from './persona.fields.js';

export interface PersonaRow {
  id: string;
  user_id: string;
  name: string;
  description: string | null;
  relation_type: string;
  status: string;
  /** The name trimmed and lower-cased (personaNameKey): what makes a name unique per user. Never in the API. */
  name_key: string;
  created_at: string;
  updated_at: string;
}

/** One rule for "the same name": without regard to case or surrounding spaces, as emails are compared. */
export const personaNameKey = (name: string) => name.trim().toLowerCase();

export const personasTable = defineTable<PersonaRow, 'id' | 'status' | 'name_key' | 'created_at' | 'updated_at'>({
  name: 'personas',
  primaryKey: 'id',
  columns: {
    id: 'string',
    user_id: 'string',
    name: 'string',
    description: 'string?',
    relation_type: 'string',
    status: 'string',
    name_key: 'string',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
  generateId: uuidv7,
  timestamps: { createdAt: 'created_at', updatedAt: 'updated_at' },
  defaults: { status: 'active' },
  unique: { uq_personas_user_id_name_key: ['user_id', 'name_key'] },
  derived: { name_key: { from: 'name', value: personaNameKey } },
  // The declared schema (migrate new --autogenerate, migrate check): what the migrations produce.
  schema: {
    columns: {
      id: types.uuid,
      user_id: { type: types.uuid, references: { table: 'users', column: 'id', onDelete: 'cascade' } },
      name: types.string(PERSONA_NAME_MAX_LENGTH),
      description: types.string(PERSONA_DESCRIPTION_MAX_LENGTH),
      relation_type: types.string(PERSONA_RELATION_TYPE_MAX_LENGTH),
      status: types.string(PERSONA_STATUS_MAX_LENGTH),
      // Nullable in the database (added to existing rows); the repository always sets it.
      name_key: { type: types.key(200), nullable: true },
      created_at: types.timestamp,
      updated_at: types.timestamp,
    },
  },
});

import { defineTable } from '@user-service/data';
import { v7 as uuidv7 } from 'uuid';

export interface PersonaRow {
  id: string;
  user_id: string;
  name: string;
  description: string | null;
  relation_type: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export const personasTable = defineTable<PersonaRow, 'id' | 'status' | 'created_at' | 'updated_at'>({
  name: 'personas',
  primaryKey: 'id',
  columns: {
    id: 'string',
    user_id: 'string',
    name: 'string',
    description: 'string?',
    relation_type: 'string',
    status: 'string',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
  generateId: uuidv7,
  timestamps: { createdAt: 'created_at', updatedAt: 'updated_at' },
  defaults: { status: 'active' },
  unique: { uq_personas_user_id_name: ['user_id', 'name'] },
});

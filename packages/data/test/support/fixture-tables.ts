import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { defineTable } from '../../src/index.js';

export const FIXTURE_MIGRATIONS = fileURLToPath(new URL('../fixtures/migrations', import.meta.url));

export interface Author {
  id: string;
  email: string;
  name: string | null;
  is_active: boolean;
  score: number;
  created_at: string;
  updated_at: string;
}

export const authors = defineTable<Author, 'id' | 'is_active' | 'score' | 'created_at' | 'updated_at'>({
  name: 'authors',
  primaryKey: 'id',
  columns: {
    id: 'string',
    email: 'string',
    name: 'string?',
    is_active: 'boolean',
    score: 'integer',
    created_at: 'timestamp',
    updated_at: 'timestamp',
  },
  generateId: randomUUID,
  timestamps: { createdAt: 'created_at', updatedAt: 'updated_at' },
  defaults: { is_active: true, score: 0 },
  unique: { uq_authors_email: ['email'] },
});

export interface Book {
  id: string;
  author_id: string;
  title: string;
  created_at: string;
  updated_at: string;
}

export const books = defineTable<Book, 'id' | 'created_at' | 'updated_at'>({
  name: 'books',
  primaryKey: 'id',
  columns: { id: 'string', author_id: 'string', title: 'string', created_at: 'timestamp', updated_at: 'timestamp' },
  generateId: randomUUID,
  timestamps: { createdAt: 'created_at', updatedAt: 'updated_at' },
});

import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MigrationError } from '../errors.js';
import type { Migration, NamedMigration } from './migration.js';

const FILE = /^(\d{14})_([a-z0-9_]+)\.(ts|js|mjs)$/;

/** Loads every migration in `dir`, ordered by the timestamp that starts its file name. */
export async function loadMigrations(dir: string): Promise<NamedMigration[]> {
  const files = (await readdir(dir)).filter((f) => FILE.test(f) && !f.endsWith('.d.ts')).sort();
  const migrations: NamedMigration[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(resolve(dir, file)).href)) as Partial<Migration>;
    if (typeof mod.up !== 'function' || typeof mod.down !== 'function') {
      throw new MigrationError(`Migration ${file} must export async functions up and down`, file);
    }
    migrations.push({ name: file.replace(/\.(ts|js|mjs)$/, ''), up: mod.up, down: mod.down });
  }
  return migrations;
}

const TEMPLATE = `import type { MigrationContext } from '@user-service/data';

// Written once for every database: use ctx.types for column types, ctx.db.schema for DDL.
export async function up({ db, types }: MigrationContext): Promise<void> {
  void db;
  void types;
}

export async function down({ db }: MigrationContext): Promise<void> {
  void db;
}
`;

/** Writes a new, empty migration named `<UTC timestamp>_<slug>.ts` and returns its path. */
export async function scaffoldMigration(dir: string, name: string, now = new Date()): Promise<string> {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!slug) throw new MigrationError('A migration needs a name made of letters or digits', undefined);
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${stamp}_${slug}.ts`);
  await writeFile(path, TEMPLATE, { flag: 'wx' });
  return path;
}

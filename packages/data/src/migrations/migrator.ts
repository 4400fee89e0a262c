import type { Kysely } from 'kysely';
import type { Database } from '../database.js';
import type { Dialect } from '../dialects/dialect.js';
import { MigrationError } from '../errors.js';
import type { DeclaringTable } from '../schema/declare.js';
import { compareDeclared } from './autogenerate.js';
import { migrationContext, type NamedMigration } from './migration.js';
import { loadMigrations } from './migration-files.js';
import { diffSnapshots, MIGRATION_TABLE } from './schema-snapshot.js';

export interface MigrationStatus {
  name: string;
  appliedAt: string | null;
}

export interface CheckResult {
  pending: string[];
  /**
   * Differences between the live schema and what the applied migrations produce on an empty schema, then
   * (prefixed "declared:") between the live schema and the declared tables, when `check` was given them.
   */
  drift: string[];
}

async function ensureTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable(MIGRATION_TABLE)
    .ifNotExists()
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('applied_at', 'varchar(32)', (c) => c.notNull())
    .execute();
}

async function appliedNames(db: Kysely<any>): Promise<Map<string, string>> {
  const rows = await db.selectFrom(MIGRATION_TABLE).select(['name', 'applied_at']).orderBy('name').execute();
  return new Map(rows.map((r) => [String(r.name), String(r.applied_at)]));
}

/**
 * Applies and reverts migrations with Alembic's verbs. Every run holds the dialect's migration lock, so a
 * second process waits and then finds nothing left to do; where DDL is transactional the run is atomic.
 */
export class Migrator {
  constructor(
    private readonly database: Database,
    readonly migrations: readonly NamedMigration[],
  ) {}

  static async fromDirectory(database: Database, dir: string): Promise<Migrator> {
    return new Migrator(database, await loadMigrations(dir));
  }

  private get dialect(): Dialect {
    return this.database.dialect;
  }

  /** Applies pending migrations: all of them, or the next `steps`. Returns the names applied. */
  async up(steps = Number.POSITIVE_INFINITY): Promise<string[]> {
    return this.locked(async (db) => {
      const applied = await appliedNames(db);
      this.ensureKnown(applied);
      const todo = this.migrations.filter((m) => !applied.has(m.name)).slice(0, steps);
      for (const m of todo) {
        await this.step(db, m, 'up');
        await db.insertInto(MIGRATION_TABLE).values({ name: m.name, applied_at: new Date().toISOString() }).execute();
      }
      return todo.map((m) => m.name);
    });
  }

  /** Reverts the last `steps` applied migrations, or all of them with 'base'. Returns the names reverted. */
  async down(steps: number | 'base' = 1): Promise<string[]> {
    return this.locked(async (db) => {
      const applied = await appliedNames(db);
      this.ensureKnown(applied);
      const done = this.migrations.filter((m) => applied.has(m.name)).reverse();
      const todo = steps === 'base' ? done : done.slice(0, steps);
      for (const m of todo) {
        await this.step(db, m, 'down');
        await db.deleteFrom(MIGRATION_TABLE).where('name', '=', m.name).execute();
      }
      return todo.map((m) => m.name);
    });
  }

  /** Every known migration, oldest first, with when it was applied (null when pending). */
  async history(): Promise<MigrationStatus[]> {
    const applied = await this.readApplied();
    return this.migrations.map((m) => ({ name: m.name, appliedAt: applied.get(m.name) ?? null }));
  }

  /** The newest applied migration, or null at base. */
  async current(): Promise<string | null> {
    const applied = await this.readApplied();
    return [...applied.keys()].sort().pop() ?? null;
  }

  async pending(): Promise<string[]> {
    const applied = await this.readApplied();
    return this.migrations.filter((m) => !applied.has(m.name)).map((m) => m.name);
  }

  /**
   * Pending migrations, plus drift: the applied migrations are replayed on an empty scratch schema of the same
   * server and the result is compared with the live schema (tables, columns, types, nullability, indexes).
   * With `declared` tables, their differences from the live schema (what autogenerate would write) are drift too.
   */
  async check(options: { declared?: readonly DeclaringTable[] } = {}): Promise<CheckResult> {
    const applied = await this.readApplied();
    const pending = this.migrations.filter((m) => !applied.has(m.name)).map((m) => m.name);
    const live = await this.database.introspect();
    const expected = await this.database.withScratchSchema(async (scratch) => {
      for (const m of this.migrations.filter((x) => applied.has(x.name))) await this.step(scratch, m, 'up');
      return this.dialect.introspect(scratch);
    });
    const drift = diffSnapshots(expected, live);
    if (options.declared) {
      const declared = await compareDeclared(this.database, options.declared);
      drift.push(...declared.messages.map((m) => `declared: ${m}`));
    }
    return { pending, drift };
  }

  private async readApplied(): Promise<Map<string, string>> {
    let applied: Map<string, string>;
    try {
      applied = await this.database.query(appliedNames);
    } catch (error) {
      // Only a database that was never migrated lacks the table; anything else is a real failure.
      if (await this.database.hasTable(MIGRATION_TABLE)) throw error;
      return new Map();
    }
    this.ensureKnown(applied);
    return applied;
  }

  private ensureKnown(applied: Map<string, string>): void {
    const known = new Set(this.migrations.map((m) => m.name));
    const unknown = [...applied.keys()].filter((n) => !known.has(n));
    if (unknown.length) {
      throw new MigrationError(
        `The database has migrations applied that this code does not have: ${unknown.join(', ')}. It was migrated by a newer version of this code or by another application sharing the database.`,
        unknown[0],
      );
    }
  }

  private locked<T>(fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
    return this.database.withMigrationLock(async (db) => {
      await ensureTable(db);
      return fn(db);
    });
  }

  private async step(db: Kysely<any>, m: NamedMigration, direction: 'up' | 'down'): Promise<void> {
    const ctx = migrationContext(db, this.dialect);
    try {
      await m[direction](ctx);
    } catch (error) {
      const outcome = this.dialect.transactionalDdl
        ? 'The whole run was rolled back: the schema is as it was before.'
        : 'This database cannot roll back DDL: statements of this step that ran before the error stay applied; earlier steps are recorded as applied.';
      throw new MigrationError(
        `Migration ${m.name} failed (${direction}): ${(error as Error).message}. ${outcome}`,
        m.name,
        { cause: error },
      );
    }
  }
}

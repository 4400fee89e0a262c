/**
 * A table as the repository sees it: column names with their plain types, the primary key, how ids and
 * timestamps are generated, and which unique constraints exist. The repository uses this to convert values
 * to and from each database's representation, so rows come back identical everywhere.
 */

import type { TableSchema } from './schema/declare.js';

export type ColumnType = 'string' | 'integer' | 'boolean' | 'timestamp';
/** A trailing "?" marks a nullable column. */
export type ColumnSpec = ColumnType | `${ColumnType}?`;

export interface TableDefinition<
  Row extends object,
  Optional extends keyof Row = never,
  Secret extends keyof Row & string = never,
> {
  readonly name: string;
  readonly primaryKey: keyof Row & string;
  readonly columns: { readonly [K in keyof Row]-?: ColumnSpec };
  /** Generates the primary key when a create omits it (e.g. UUIDv7). */
  readonly generateId?: () => string;
  /** Columns the repository stamps with the current time: both on create, `updatedAt` on update. */
  readonly timestamps?: { readonly createdAt: keyof Row & string; readonly updatedAt: keyof Row & string };
  /** Values applied on create when the input omits them (kept in code, so every database agrees). */
  readonly defaults?: { readonly [K in Optional]?: Row[K] };
  /** Unique constraints by name, so a violation names its columns on every database. */
  readonly unique?: Readonly<Record<string, readonly (keyof Row & string)[]>>;
  /**
   * Columns holding secrets (password hashes, token hashes, keys). The repository refuses to filter, sort or
   * page by them, so no query shape (a filter, a sort key, a cursor) can be turned into an oracle on their
   * values, and leaves them out of every row it returns unless a read names them (`{ secrets: [...] }`).
   * Typed: declare them as the third type argument, so reads return `Omit<Row, Secret>`.
   */
  readonly secret?: readonly Secret[];
  /**
   * Columns computed from another column whenever it is written (a normalised key beside a display value, e.g.
   * a persona name's case-folded form that a unique index holds). Every way in goes through the repository,
   * so the rule exists once.
   */
  readonly derived?: { readonly [K in keyof Row]?: { from: keyof Row & string; value: (source: any) => Row[K] } };
  /**
   * The declared database schema (column types with lengths, database defaults, references, indexes): what
   * `migrate new --autogenerate` and `migrate check` compare with the database. See schema/declare.ts.
   */
  readonly schema?: TableSchema<Row>;
  /** Phantom markers carrying `Optional` and `Secret` for type inference; never set. */
  readonly __optional?: Optional;
  readonly __secret?: Secret;
}

type NullableKeys<R> = { [K in keyof R]-?: null extends R[K] ? K : never }[keyof R];

/** What `create` accepts: every column, except generated, defaulted and nullable ones, which may be omitted. */
export type NewRow<Row, Optional extends keyof Row> = Omit<Row, Optional | NullableKeys<Row>> &
  Partial<Pick<Row, Optional | NullableKeys<Row>>>;

/** What `update` accepts: any column but the primary key. */
export type RowPatch<Row> = Partial<Row>;

export function defineTable<
  Row extends object,
  Optional extends keyof Row = never,
  Secret extends keyof Row & string = never,
>(definition: TableDefinition<Row, Optional, Secret>): TableDefinition<Row, Optional, Secret> {
  for (const [name, columns] of Object.entries(definition.unique ?? {})) {
    for (const column of columns) {
      if (!(column in definition.columns)) throw new Error(`Unique constraint ${name} names unknown column ${column}`);
    }
  }
  for (const column of definition.secret ?? []) {
    if (!(column in definition.columns))
      throw new Error(`Secret column ${column} is not a column of ${definition.name}`);
  }
  return definition;
}

export function columnType(spec: ColumnSpec): { type: ColumnType; nullable: boolean } {
  return spec.endsWith('?')
    ? { type: spec.slice(0, -1) as ColumnType, nullable: true }
    : { type: spec as ColumnType, nullable: false };
}

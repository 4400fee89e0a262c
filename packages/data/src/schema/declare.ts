import type { ColumnDataType, Expression } from 'kysely';
import type { ColumnTypes } from '../dialects/dialect.js';
import { type ColumnSpec, columnType } from '../table.js';

/**
 * The declared schema of a table, beside its repository definition: what `migrate new --autogenerate`
 * compares with the database. Types are named as in migrations (`types.string(320)`), so one declaration
 * means the same column on every database.
 */

export type TypeSpec =
  | { readonly kind: 'uuid' | 'text' | 'boolean' | 'integer' | 'bigint' | 'timestamp' }
  | { readonly kind: 'string' | 'key'; readonly length: number };

/** Column types for table declarations; the same names as a migration's `ctx.types`. */
export const types = {
  uuid: { kind: 'uuid' },
  string: (length: number): TypeSpec => ({ kind: 'string', length }),
  key: (length: number): TypeSpec => ({ kind: 'key', length }),
  text: { kind: 'text' },
  boolean: { kind: 'boolean' },
  integer: { kind: 'integer' },
  bigint: { kind: 'bigint' },
  timestamp: { kind: 'timestamp' },
} as const satisfies Record<keyof ColumnTypes, TypeSpec | ((length: number) => TypeSpec)>;

export type DefaultValue = string | number | boolean;
export type OnDelete = 'cascade' | 'set null' | 'restrict' | 'no action';

export interface ColumnDeclaration {
  readonly type: TypeSpec;
  /** Overrides the nullability of the repository's column spec (e.g. a column the code always sets). */
  readonly nullable?: boolean;
  /** A default the database applies (defaults kept in code go in the table definition's `defaults`). */
  readonly default?: DefaultValue;
  readonly references?: { readonly table: string; readonly column: string; readonly onDelete?: OnDelete };
}

export interface IndexDeclaration<C extends string = string> {
  readonly columns: readonly C[];
  readonly unique?: boolean;
  /** A substring-search index (`indexes.createSubstringIndex`): a trigram index on PostgreSQL, none elsewhere. */
  readonly substring?: boolean;
}

export interface TableSchema<Row> {
  readonly columns: { readonly [K in keyof Row]-?: TypeSpec | ColumnDeclaration };
  /** Indexes besides the definition's `unique` constraints (which are unique indexes of the same name). */
  readonly indexes?: Readonly<Record<string, IndexDeclaration<keyof Row & string>>>;
}

/** A column as autogenerate handles it: neutral type, nullability, default, reference. */
export interface ColumnShape {
  name: string;
  type: TypeSpec;
  nullable: boolean;
  default?: DefaultValue;
  references?: { table: string; column: string; onDelete?: OnDelete };
  /** The type as the database spelled it, when it matches no `types.*` (only for dropped columns). */
  unknownType?: string;
}

export interface IndexShape {
  name: string;
  columns: string[];
  unique: boolean;
  substring?: boolean;
}

export interface TableShape {
  name: string;
  columns: ColumnShape[];
  primaryKey: string[];
  indexes: IndexShape[];
}

/** What `declaredTable` reads from a table definition (kept structural, so any Row type fits). */
export interface DeclaringTable {
  readonly name: string;
  readonly primaryKey: string;
  readonly columns: Readonly<Record<string, ColumnSpec>>;
  readonly unique?: Readonly<Record<string, readonly string[]>>;
  readonly schema?: {
    readonly columns: Readonly<Record<string, TypeSpec | ColumnDeclaration>>;
    readonly indexes?: Readonly<Record<string, IndexDeclaration>>;
  };
}

export function isTypeSpec(value: TypeSpec | ColumnDeclaration): value is TypeSpec {
  return 'kind' in value;
}

/** The declared shape of a table definition; throws when it has no `schema`. */
export function declaredTable(table: DeclaringTable): TableShape {
  const schema = table.schema;
  if (!schema) throw new Error(`Table ${table.name} declares no schema (add \`schema\` to its definition)`);
  const columns = Object.entries(table.columns).map(([name, spec]): ColumnShape => {
    const declared = schema.columns[name];
    if (!declared) throw new Error(`Table ${table.name}: column ${name} has no declared type in its schema`);
    const decl: ColumnDeclaration = isTypeSpec(declared) ? { type: declared } : declared;
    const shape: ColumnShape = { name, type: decl.type, nullable: decl.nullable ?? columnType(spec).nullable };
    if (decl.default !== undefined) shape.default = decl.default;
    if (decl.references) shape.references = { ...decl.references };
    return shape;
  });
  for (const name of Object.keys(schema.columns)) {
    if (!(name in table.columns)) throw new Error(`Table ${table.name}: schema declares unknown column ${name}`);
  }
  const indexes: IndexShape[] = [
    ...Object.entries(table.unique ?? {}).map(([name, cols]) => ({ name, columns: [...cols], unique: true })),
    ...Object.entries(schema.indexes ?? {}).map(([name, i]) => ({
      name,
      columns: [...i.columns],
      unique: i.unique ?? false,
      ...(i.substring ? { substring: true } : {}),
    })),
  ];
  return { name: table.name, columns, primaryKey: [table.primaryKey], indexes };
}

/** The type spelled for the connected database. */
export function resolveType(spec: TypeSpec, t: ColumnTypes): ColumnDataType | Expression<unknown> {
  switch (spec.kind) {
    case 'string':
      return t.string(spec.length);
    case 'key':
      return t.key(spec.length);
    default:
      return t[spec.kind];
  }
}

/** The type as migration source, e.g. `types.string(320)`. */
export function renderType(spec: TypeSpec): string {
  return 'length' in spec ? `types.${spec.kind}(${spec.length})` : `types.${spec.kind}`;
}

export function sameType(a: TypeSpec, b: TypeSpec): boolean {
  return renderType(a) === renderType(b);
}

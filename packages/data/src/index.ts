export { type Consistency, Database, type DatabaseOptions, DEFAULT_POOL, openDatabase } from './database.js';
export {
  ACCEPTED_URL_FORMS,
  type DialectKind,
  type ParsedDatabaseUrl,
  parseDatabaseUrl,
  redactUrl,
} from './database-url.js';
export type { ColumnTypes, Dialect, PoolOptions } from './dialects/dialect.js';
export * from './errors.js';
export { MemoryStore } from './memory-repository.js';
export {
  type AutogenerateResult,
  autogenerateMigration,
  compareDeclared,
  renderMigration,
} from './migrations/autogenerate.js';
export type { Migration, MigrationContext, NamedMigration } from './migrations/migration.js';
export { loadMigrations, scaffoldMigration } from './migrations/migration-files.js';
export { type CheckResult, type MigrationStatus, Migrator } from './migrations/migrator.js';
export { diffSnapshots, type SchemaSnapshot } from './migrations/schema-snapshot.js';
export type { PoolStats, QueryEvent, QueryObserver } from './observe.js';
export type { ConsistencyScope } from './replication/consistency.js';
export type { ReplicaStatus } from './replication/replica-set.js';
export type {
  ClaimOptions,
  Condition,
  DataStore,
  Filters,
  ListOptions,
  OrderBy,
  Page,
  Repository,
  RepositoryProvider,
  SecretRead,
  Visible,
  WithSecrets,
} from './repository.js';
export { DEFAULT_PAGE_SIZE } from './repository.js';
export {
  type ColumnDeclaration,
  type DeclaringTable,
  type IndexDeclaration,
  type TableSchema,
  type TypeSpec,
  types,
} from './schema/declare.js';
export type { SchemaDiff } from './schema/diff.js';
export {
  type KyselyOf,
  type RowOf,
  type SchemaOf,
  type TableMap,
  tableMap,
  typedQuery,
} from './schema/typed.js';
export {
  type ColumnSpec,
  type ColumnType,
  defineTable,
  type NewRow,
  type RowPatch,
  type TableDefinition,
} from './table.js';

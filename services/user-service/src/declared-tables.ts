import { personasTable } from './personas/persona.table.js';
import { usersTable } from './users/user.table.js';

/**
 * Every table of the service, as declared in its `*.table.ts`: the schema `migrate new --autogenerate` writes
 * migrations towards and `migrate check` compares with the database. A new table goes here.
 */
export const DECLARED_TABLES = [usersTable, personasTable] as const;

/**
 * The rules of each persona field, written once: the API's schemas (persona.schemas.ts) are built from these,
 * the import validates its personas with those same schemas, and the table's declared schema
 * (persona.table.ts) reads its column sizes from here. Migrations keep their literal sizes: they are history.
 */
export const PERSONA_NAME_MAX_LENGTH = 128;
export const PERSONA_DESCRIPTION_MAX_LENGTH = 255;
export const PERSONA_RELATION_TYPE_MAX_LENGTH = 32;
export const PERSONA_STATUS_MAX_LENGTH = 32;

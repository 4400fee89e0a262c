import { type Static, Type } from '@sinclair/typebox';
import { Nullable, Pagination, refTo, Timestamp, Uuid } from '../http/common.schemas.js';

import {
  PERSONA_DESCRIPTION_MAX_LENGTH,
  PERSONA_NAME_MAX_LENGTH,
  PERSONA_RELATION_TYPE_MAX_LENGTH,
  PERSONA_STATUS_MAX_LENGTH,
} from './persona.fields.js';

const Name = Type.String({ minLength: 1, maxLength: PERSONA_NAME_MAX_LENGTH, examples: ['Work'] });
const Description = Type.String({
  maxLength: PERSONA_DESCRIPTION_MAX_LENGTH,
  examples: ['How I appear to colleagues'],
});
const RelationType = Type.String({
  minLength: 1,
  maxLength: PERSONA_RELATION_TYPE_MAX_LENGTH,
  examples: ['colleague'],
});
const Status = Type.String({ minLength: 1, maxLength: PERSONA_STATUS_MAX_LENGTH, examples: ['active'] });

export const PersonaCreate = Type.Object(
  {
    name: Name,
    description: Type.Optional(Nullable(Description)),
    relation_type: RelationType,
    status: Type.Optional(Status),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
export type PersonaCreate = Static<typeof PersonaCreate>;

export const PersonaUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Nullable(Description)),
    relation_type: Type.Optional(RelationType),
    status: Type.Optional(Status),
  },
  { description: 'Fields not listed here are ignored (never stored), as FastAPI ignores them.' },
);
export type PersonaUpdate = Static<typeof PersonaUpdate>;

export const PersonaPublic = Type.Object(
  {
    id: Uuid,
    user_id: Uuid,
    name: Type.String(),
    description: Nullable(Type.String()),
    relation_type: Type.String(),
    status: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'PersonaPublic' },
);

export const PersonaListPublic = Type.Object(
  {
    personas: Type.Array(refTo(PersonaPublic)),
    total: Type.Integer(),
    skip: Type.Integer(),
    limit: Type.Integer(),
    next_cursor: Nullable(Type.String()),
  },
  { $id: 'PersonaListPublic' },
);

export const PersonaListQuery = Type.Object({ ...Pagination }, { additionalProperties: false });
export const UserPersonaParams = Type.Object({ user_id: Uuid });
export const PersonaParams = Type.Object({ user_id: Uuid, persona_id: Uuid });

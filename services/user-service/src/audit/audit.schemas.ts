import { type Static, Type } from '@sinclair/typebox';
import { Nullable, Pagination, refTo, Timestamp, TimestampFilter, Uuid } from '../http/common.schemas.js';
import { AUDIT_EVENT_MAX_LENGTH } from './audit-event.table.js';
import { AUDIT_EVENTS, SECURITY_EVENTS } from './audit-events.js';

/** Default and largest page of the audit lists. */
export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;

/** One event as the API and `audit export` show it. Never holds a password, token, key or hash (recordAudit). */
export const AuditEventPublic = Type.Object(
  {
    id: Uuid,
    created_at: Timestamp,
    event: Type.String({ enum: [...AUDIT_EVENTS], examples: ['login.succeeded'] }),
    actor_user_id: Nullable({ ...Uuid, description: 'The signed-in user who did it; null for an API key or the CLI' }),
    actor_api_key_id: Nullable({ ...Uuid, description: 'The API key that did it' }),
    target_user_id: Nullable({ ...Uuid, description: 'Whose account the event concerns' }),
    ip: Nullable(Type.String({ examples: ['203.0.113.7'] })),
    user_agent: Nullable(Type.String()),
    request_id: Nullable(Type.String({ description: 'The X-Request-Id of the request that did it' })),
    detail: Nullable(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description: 'A few named facts (a reason, the fields changed, via: "cli"); never a secret',
          examples: [{ fields: ['full_name'] }],
        },
      ),
    ),
  },
  { $id: 'AuditEventPublic' },
);
export type AuditEventPublic = Static<typeof AuditEventPublic>;

export const AuditEventListPublic = Type.Object(
  {
    audit_events: Type.Array(refTo(AuditEventPublic), { description: 'Newest first' }),
    next_cursor: Nullable(Type.String({ description: 'Pass as `after` for the next (older) page; null: no more' })),
  },
  { $id: 'AuditEventListPublic' },
);

// The column's length as well as the names: the document says how long a name can be (and the fuzz suite
// derives its malformed values, such as an over-long name, from it).
const EventFilter = (names: readonly string[]) =>
  Type.String({ enum: [...names], maxLength: AUDIT_EVENT_MAX_LENGTH, description: 'Only this event' });

const paging = {
  limit: Type.Integer({
    minimum: 1,
    maximum: AUDIT_PAGE_MAX,
    default: AUDIT_PAGE_DEFAULT,
    description: `Page size, 1 to ${AUDIT_PAGE_MAX}`,
  }),
  after: Pagination.after,
  from: Type.Optional({ ...TimestampFilter, description: 'Events at or after this time' }),
  to: Type.Optional({ ...TimestampFilter, description: 'Events before this time' }),
};

export const AuditListQuery = Type.Object(
  {
    ...paging,
    user_id: Type.Optional({ ...Uuid, description: 'Events about this user (target_user_id)' }),
    actor_id: Type.Optional({ ...Uuid, description: 'Events done by this user or API key' }),
    event: Type.Optional(EventFilter(AUDIT_EVENTS)),
  },
  { additionalProperties: false },
);
export type AuditListQuery = Static<typeof AuditListQuery>;

export const MyAuditListQuery = Type.Object(
  {
    ...paging,
    event: Type.Optional(EventFilter(SECURITY_EVENTS)),
  },
  { additionalProperties: false },
);
export type MyAuditListQuery = Static<typeof MyAuditListQuery>;

/** The schemas the routes refer to by $id (OpenAPI components). */
export const AUDIT_SCHEMAS = [AuditEventPublic, AuditEventListPublic] as const;

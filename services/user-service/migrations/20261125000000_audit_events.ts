import type { MigrationContext } from '@user-service/data';

// The append-only audit log (src/audit/audit-event.table.ts). No foreign keys: events outlive users and keys.
export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('event', types.key(64), (c) => c.notNull())
    .addColumn('actor_user_id', types.uuid)
    .addColumn('actor_api_key_id', types.uuid)
    .addColumn('target_user_id', types.uuid)
    .addColumn('ip', types.string(45))
    .addColumn('user_agent', types.string(255))
    .addColumn('request_id', types.string(128))
    .addColumn('detail', types.string(2000))
    .execute();
  await db.schema.createIndex('ix_audit_events_created_at').on('audit_events').columns(['created_at', 'id']).execute();
  await db.schema
    .createIndex('ix_audit_events_target_user_id_created_at')
    .on('audit_events')
    .columns(['target_user_id', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('ix_audit_events_event_created_at')
    .on('audit_events')
    .columns(['event', 'created_at', 'id'])
    .execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('audit_events').execute();
}

import type { MigrationContext } from '@user-service/data';

// The transactional outbox (src/mail/outbox.table.ts): mails written with the token they carry, sent later.
export async function up({ db, types }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('outbox')
    .addColumn('id', types.uuid, (c) => c.primaryKey())
    .addColumn('created_at', types.timestamp, (c) => c.notNull())
    .addColumn('status', types.key(16), (c) => c.notNull())
    .addColumn('template', types.key(32), (c) => c.notNull())
    .addColumn('to_address', types.string(320), (c) => c.notNull())
    .addColumn('subject', types.string(255), (c) => c.notNull())
    // The bodies hold the link with the token: NULL once the mail is sent.
    .addColumn('text_body', types.text)
    .addColumn('html_body', types.text)
    .addColumn('attempts', types.integer, (c) => c.notNull())
    .addColumn('available_at', types.timestamp, (c) => c.notNull())
    .addColumn('locked_until', types.timestamp)
    .addColumn('claimed_by', types.uuid)
    .addColumn('last_error', types.string(500))
    .addColumn('sent_at', types.timestamp)
    .execute();
  // The sender's claim query (status = 'pending' and available_at <= now, oldest first).
  await db.schema
    .createIndex('ix_outbox_status_available_at')
    .on('outbox')
    .columns(['status', 'available_at'])
    .execute();
}

export async function down({ db }: MigrationContext): Promise<void> {
  await db.schema.dropTable('outbox').execute();
}

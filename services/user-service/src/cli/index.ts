// The `user-service` command. Every sub-command reads the same configuration as the server (.env, then the
// environment). Errors print one line and exit 1; they never print a stack trace.
import { Command } from 'commander';
import { loadDotEnv } from '../config.js';
import { VERSION } from '../version.js';
import { auditCommand } from './audit.command.js';
import { createUserCommand } from './create-user.command.js';
import { exportCommand } from './export.command.js';
import { importCommand } from './import.command.js';
import { keysCommand } from './keys.command.js';
import { migrateCommand } from './migrate.command.js';
import { outboxCommand } from './outbox.command.js';
import { seedCommand } from './seed.command.js';
import { serveCommand } from './serve.command.js';

loadDotEnv();
const program = new Command('user-service')
  .description('User-management service: users and personas on SQLite, PostgreSQL or MySQL/MariaDB')
  .version(VERSION)
  .addCommand(serveCommand())
  .addCommand(migrateCommand())
  .addCommand(createUserCommand())
  .addCommand(seedCommand())
  .addCommand(importCommand())
  .addCommand(exportCommand())
  .addCommand(keysCommand())
  .addCommand(auditCommand())
  .addCommand(outboxCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(1);
}

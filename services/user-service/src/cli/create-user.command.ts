import { Command } from 'commander';
import { CLI_CONTEXT } from '../audit/audit-context.js';
import { loadConfig } from '../config.js';
import { bodyValidator } from '../http/validators.js';
import { openRuntime } from '../runtime.js';
import { ruleProblems } from '../shared/transfer-values.js';
import { UserCreate } from '../users/user.schemas.js';
import { type NewUser, UserService } from '../users/user.service.js';

// The API's own rules for a sign-up (the same schema, validator and messages as POST /users).
const checkUserCreate = bodyValidator(UserCreate);

export function createUserCommand(): Command {
  return new Command('create-user')
    .description('create a user (for example the first superuser)')
    .requiredOption('--email <email>', 'email address')
    .option('--password <password>', 'password (8-128 characters); default: read from USER_PASSWORD')
    .option('--username <username>', 'username')
    .option('--full-name <name>', 'full name')
    .option('--superuser', 'make the user a superuser', false)
    .action(
      async (options: {
        email: string;
        password?: string;
        username?: string;
        fullName?: string;
        superuser: boolean;
      }) => {
        const password = options.password ?? process.env.USER_PASSWORD;
        if (!password) throw new Error('a password is required (--password or USER_PASSWORD)');
        const input: NewUser = {
          email: options.email,
          password,
          username: options.username ?? null,
          full_name: options.fullName ?? null,
        };
        const problems = ruleProblems(checkUserCreate(input));
        if (problems.length > 0) throw new Error(problems.join('; '));
        const config = loadConfig();
        const runtime = await openRuntime(config);
        try {
          // As `npm start` does: the embedded database migrates itself, so the first command on a fresh machine
          // (making the first superuser) works; a server database is migrated on purpose (npm run migrate).
          if (config.migrateOnStart) await runtime.migrator.up();
          const users = new UserService(runtime.database, runtime.hasher);
          const user = await users.create({ ...input, is_superuser: options.superuser }, { context: CLI_CONTEXT });
          process.stdout.write(`${JSON.stringify(user)}\n`);
        } finally {
          await runtime.database.close();
        }
      },
    );
}

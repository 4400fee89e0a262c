import { Command } from 'commander';
import { CLI_CONTEXT } from '../audit/audit-context.js';
import { AccountService } from '../auth/account.service.js';
import { loadConfig } from '../config.js';
import { bodyValidator } from '../http/validators.js';
import { Outbox } from '../mail/outbox.js';
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
    .option('--verified', "the email is known to be the user's: mark it verified, send no verification mail", false)
    .action(
      async (options: {
        email: string;
        password?: string;
        username?: string;
        fullName?: string;
        superuser: boolean;
        verified: boolean;
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
          // The same door as the API: an unverified user gets the verification mail in the same transaction;
          // the outbox holds it and the running service sends it (the CLI sends nothing itself).
          users.setLifecycle(
            new AccountService(runtime.database, users, new Outbox(config.mail, runtime.database), {
              verifyTokenHours: config.access.verifyTokenHours,
              resetTokenMinutes: config.access.resetTokenMinutes,
            }),
          );
          const user = await users.create(
            { ...input, is_superuser: options.superuser, is_verified: options.verified },
            { context: CLI_CONTEXT },
          );
          process.stdout.write(`${JSON.stringify(user)}\n`);
          if (!user.is_verified) {
            process.stderr.write(
              `verification mail to ${user.email} queued: the service sends it (user-service outbox lists it)\n`,
            );
          }
        } finally {
          await runtime.database.close();
        }
      },
    );
}

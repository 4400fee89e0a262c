import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { openRuntime } from '../runtime.js';
import { UserService } from '../users/user.service.js';

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
        if (!password || password.length < 8 || password.length > 128) {
          throw new Error('a password of 8 to 128 characters is required (--password or USER_PASSWORD)');
        }
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(options.email))
          throw new Error(`"${options.email}" is not a valid email address`);
        const runtime = await openRuntime(loadConfig());
        try {
          const users = new UserService(runtime.database, runtime.hasher);
          const user = await users.create({
            email: options.email,
            password,
            username: options.username ?? null,
            full_name: options.fullName ?? null,
            is_superuser: options.superuser,
          });
          process.stdout.write(`${JSON.stringify(user)}\n`);
        } finally {
          await runtime.database.close();
        }
      },
    );
}

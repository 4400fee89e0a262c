import { Command } from 'commander';
import { CLI_CONTEXT } from '../audit/audit-context.js';
import { accessTokenOptions, retiredGraceMs, rotateSigningKey } from '../auth/access-tokens.js';
import { SigningKeyRepository } from '../auth/signing-key.repository.js';
import { loadConfig } from '../config.js';
import { openRuntime } from '../runtime.js';

/**
 * `keys rotate` and `keys list`: the EdDSA access-token signing keys. Never prints key material, only kids and
 * dates. Running processes sign with a new key within 30 s (SIGNER_REFRESH_SECONDS in auth/access-tokens.ts)
 * and verify its tokens at once (an unknown kid reloads the keys).
 */
export function keysCommand(): Command {
  const keys = new Command('keys').description('manage the access-token signing keys (JWT_ALGORITHM=EdDSA)');

  keys
    .command('rotate')
    .description(
      'make a new signing key and print its kid; older keys keep verifying until the tokens they signed expire',
    )
    .action(async () => {
      const config = loadConfig();
      const runtime = await openRuntime(config);
      try {
        const { kid } = await rotateSigningKey(runtime.database, accessTokenOptions(config), CLI_CONTEXT);
        process.stdout.write(`${kid}\n`);
        process.stderr.write(
          `new signing key ${kid}: running services sign with it within 30 s; the previous keys verify ` +
            `until their tokens expire (ACCESS_TOKEN_EXPIRE_MINUTES=${config.tokenMinutes}) and are deleted after\n`,
        );
      } finally {
        await runtime.database.close();
      }
    });

  keys
    .command('list')
    .description('list the signing keys (kid, created_at, retired_at), newest first; never key material')
    .action(async () => {
      const config = loadConfig();
      const runtime = await openRuntime(config);
      try {
        const rows = await new SigningKeyRepository(runtime.database).all();
        const signer = rows.find((k) => k.retired_at === null)?.kid;
        const grace = retiredGraceMs(config.tokenMinutes * 60);
        process.stdout.write('kid\tcreated_at\tretired_at\tstatus\n');
        for (const k of rows) {
          // A retired key still verifies the tokens it signed until they have all expired: say until when.
          const until = k.retired_at === null ? undefined : new Date(Date.parse(k.retired_at) + grace);
          const status =
            k.kid === signer
              ? 'signing'
              : until === undefined
                ? 'verifying'
                : until.getTime() > Date.now()
                  ? `verifying until ${until.toISOString()}`
                  : 'retired';
          process.stdout.write(`${k.kid}\t${k.created_at}\t${k.retired_at ?? '-'}\t${status}\n`);
        }
      } finally {
        await runtime.database.close();
      }
    });

  return keys;
}

/**
 * `user-service outbox` and `user-service outbox retry`: the mails not delivered yet, for an operator. The list
 * never shows a body (it holds the token). A retry only puts mails back in line; the running service's senders
 * deliver them (this command sends nothing itself, so it needs no SMTP access and cannot race them).
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { Outbox } from '../mail/outbox.js';
import { openRuntime } from '../runtime.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Rows listed at most; the outbox of a healthy service holds a handful. */
const LIST_LIMIT = 1000;

function uuids(values: string[]): string[] {
  for (const value of values) {
    if (!UUID.test(value)) throw new InvalidArgumentError(`"${value}" is not a mail id (a UUID from \`outbox\`)`);
  }
  return [...new Set(values)];
}

/** One line a field: tabs and line breaks inside a value would break the columns. */
const cell = (value: string | number | null) => (value === null ? '-' : String(value).replace(/[\t\r\n]+/g, ' '));

export function outboxCommand(): Command {
  const outbox = new Command('outbox')
    .description('list the mails not delivered yet (pending and failed); never their bodies')
    .action(async () => {
      const config = loadConfig();
      const runtime = await openRuntime(config);
      try {
        const mails = await new Outbox(config.mail, runtime.database).undelivered(LIST_LIMIT);
        process.stdout.write('id\tstatus\tto\tsubject\tattempts\tnext_try\tlast_error\n');
        for (const m of mails) {
          const next = m.status === 'pending' ? m.available_at : null;
          const row = [m.id, m.status, m.to_address, m.subject, m.attempts, next, m.last_error];
          process.stdout.write(`${row.map(cell).join('\t')}\n`);
        }
        if (mails.length === LIST_LIMIT) process.stderr.write(`the oldest ${LIST_LIMIT} shown\n`);
      } finally {
        await runtime.database.close();
      }
    });

  outbox
    .command('retry')
    .description(
      'send failed mails again (all of them, or the ids given), and pending ones now: attempts start again at 0; the running service delivers them',
    )
    .argument('[ids...]', 'mail ids from `outbox` (default: every failed and pending mail)')
    .action(async (ids: string[]) => {
      const chosen = ids.length > 0 ? uuids(ids) : undefined;
      const config = loadConfig();
      const runtime = await openRuntime(config);
      try {
        const count = await new Outbox(config.mail, runtime.database).retry(chosen);
        process.stdout.write(
          `${count} mail${count === 1 ? '' : 's'} put back in line: the running service sends ${count === 1 ? 'it' : 'them'} within OUTBOX_POLL_MS (${config.mail.pollMs} ms)\n`,
        );
        if (chosen && count < chosen.length) {
          process.stderr.write(
            `${chosen.length - count} of the ${chosen.length} ids given are not waiting: unknown, already sent, or being sent right now\n`,
          );
          if (count === 0) process.exitCode = 1;
        }
      } finally {
        await runtime.database.close();
      }
    });

  return outbox;
}

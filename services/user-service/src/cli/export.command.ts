/**
 * `user-service export [file]`: writes every user, password hash included, with the user's personas, as
 * NDJSON or CSV, for `import` into another database. Users are read a page at a time with keyset cursors, and
 * each page's personas with one filtered, keyset-paged query, so memory stays flat whatever the table's size.
 * Rows created while an export runs may or may not be in it: it is not a snapshot.
 */

import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Database } from '@user-service/data';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config.js';
import { personasOf } from '../personas/persona-transfer.js';
import { openRuntime } from '../runtime.js';
import { UserRepository } from '../users/user.repository.js';
import { resolveFormat, TRANSFER_FORMATS, type TransferFormat, toCsv, toNdjson } from '../users/user-transfer.js';

interface ExportOptions {
  format?: TransferFormat;
  pageSize: number;
}

function pageSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('use a whole number from 1 to 10000');
  return n;
}

export function exportCommand(): Command {
  return new Command('export')
    .description(
      'write every user (password hashes included) and their personas as NDJSON or CSV, for import into another database',
    )
    .addHelpText(
      'after',
      `
Formats:
  ndjson  one JSON object a line, one line a user; the user's personas nested
          in it as a "personas" array of {id, name, description,
          relation_type, status, created_at, updated_at}.
  csv     a header line, then one record a user; the last column, "personas",
          holds that same array as JSON text ("[]" for none), so one file
          carries the whole move, as with NDJSON.`,
    )
    .argument('[file]', 'file to write (default: standard output)')
    .addOption(
      new Option('--format <format>', 'file format (default: from the file extension, else ndjson)').choices(
        TRANSFER_FORMATS,
      ),
    )
    .option('--page-size <n>', 'users (and personas) read per query', pageSize, 1000)
    .action(async (file: string | undefined, options: ExportOptions) => {
      const format = resolveFormat(options.format, file);
      // Bulk reads of a large table are not a request: no per-query bound (0: none).
      const runtime = await openRuntime({ ...loadConfig(), queryTimeoutMs: 0 }, (m) => process.stderr.write(`${m}\n`));
      try {
        const counter = { users: 0, personas: 0 };
        const source = Readable.from(pages(runtime.database, format, options.pageSize, counter));
        if (file) {
          // The file holds password hashes: readable by its owner only.
          await pipeline(source, createWriteStream(file, { mode: 0o600 })).catch(async (error: unknown) => {
            // A half-written export must not be mistaken for a whole one.
            await rm(file, { force: true });
            throw error;
          });
        } else {
          await pipeline(source, process.stdout as Writable, { end: false });
        }
        // stderr, because stdout may be the export itself.
        const users = `${counter.users} ${counter.users === 1 ? 'user' : 'users'}`;
        const personas = `${counter.personas} ${counter.personas === 1 ? 'persona' : 'personas'}`;
        process.stderr.write(`exported ${users} and ${personas} to ${file ?? 'standard output'} (${format})\n`);
      } finally {
        await runtime.database.close();
      }
    });
}

/** The export's text, a page of users (with their personas) at a time, in primary-key order. */
async function* pages(
  database: Database,
  format: TransferFormat,
  limit: number,
  counter: { users: number; personas: number },
): AsyncGenerator<string> {
  let first = true;
  // The hashes are read by name: moving them is the export's purpose (see user-transfer.ts).
  for await (const users of new UserRepository(database).transferPages(limit)) {
    const personas = await personasOf(
      database,
      users.map((u) => u.id),
      limit,
    );
    counter.users += users.length;
    for (const list of personas.values()) counter.personas += list.length;
    const text = format === 'csv' ? toCsv(users, first, personas) : toNdjson(users, personas);
    first = false;
    if (text) yield text;
  }
}

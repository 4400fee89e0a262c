/**
 * `user-service import <file>`: loads users, with their personas, written by `export` (or users from the
 * Python predecessor services) into the configured database. Rows are read and validated one at a time and
 * written in batches, a user's personas in the same transaction as the user; a bad row (a bad persona makes
 * its user's row bad) is reported with its line and skipped, and the rest still import. Exit code 1 when any
 * row failed.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Database, UniqueViolationError } from '@user-service/data';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config.js';
import { type NewPersonaRow, PersonaRepository } from '../personas/persona.repository.js';
import type { ImportedPersona } from '../personas/persona-transfer.js';
import { openRuntime } from '../runtime.js';
import { UserRepository } from '../users/user.repository.js';
import {
  type ImportedUser,
  quote,
  readUsers,
  resolveFormat,
  type SourceItem,
  TRANSFER_FORMATS,
  type TransferFormat,
  TransferFormatError,
  validateUser,
} from '../users/user-transfer.js';

interface ImportOptions {
  format?: TransferFormat;
  dryRun: boolean;
  errors?: string;
  batchSize: number;
}

interface RowError {
  line: number;
  email: string | null;
  error: string;
}

interface Pending {
  line: number;
  user: ImportedUser;
  personas: ImportedPersona[];
}

/** A unique violation on a persona, told apart from one on its user. */
class PersonaConflict extends Error {
  constructor(readonly conflict: UniqueViolationError) {
    super(conflict.message);
  }
}

function batchSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('use a whole number from 1 to 10000');
  return n;
}

export function importCommand(): Command {
  return new Command('import')
    .description(
      'import users (password hashes included) and their personas from an NDJSON or CSV file written by export',
    )
    .addHelpText(
      'after',
      `
Formats (as export writes them):
  ndjson  one JSON object a line, one line a user; its personas nested in a
          "personas" array of {id?, name, description?, relation_type,
          status?, created_at?, updated_at?}.
  csv     a header line naming the columns, then one record a user; the
          personas as that same JSON array in a "personas" column (optional:
          a CSV without it, like a predecessor's users table, imports users).
Personas follow the API's rules: name 1-128 characters, unique per user
without regard to case or surrounding spaces; description at most 255
characters or null; relation_type 1-32; status 1-32 (default "active"). A
persona keeps its id when it has one. A user and its personas are imported
together or not at all: a bad persona rejects its user's line.`,
    )
    .argument('<file>', 'file to read')
    .addOption(
      new Option('--format <format>', 'file format (default: from the file extension, else ndjson)').choices(
        TRANSFER_FORMATS,
      ),
    )
    .option('--dry-run', 'validate and report, but write nothing', false)
    .option('--errors <report-file>', 'also write the rejected rows to this file (NDJSON: {line, email, error})')
    .option('--batch-size <n>', 'users (each with its personas) written per transaction', batchSize, 500)
    .action(async (file: string, options: ImportOptions) => {
      const failed = await importUsers(file, options);
      if (failed > 0) process.exitCode = 1;
    });
}

/** Reports rejected rows on stderr (above the progress bar, when there is one) and in the --errors file. */
class ErrorReport {
  count = 0;
  constructor(
    private readonly file: FileHandle | undefined,
    private readonly log: (text: string) => void,
  ) {}

  async add(error: RowError): Promise<void> {
    this.count++;
    this.log(`line ${error.line}${error.email ? ` (${error.email})` : ''}: ${error.error}\n`);
    await this.file?.write(`${JSON.stringify(error)}\n`);
  }
}

async function importUsers(file: string, options: ImportOptions): Promise<number> {
  const format = resolveFormat(options.format, file);
  if (options.errors && resolve(options.errors) === resolve(file)) {
    throw new Error('the --errors file must not be the file being imported');
  }
  // Open both files before the database, so a wrong path fails fast with nothing written.
  const input = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)}`);
  });
  let report: FileHandle | undefined;
  try {
    const size = (await input.stat()).size;
    if (options.errors) {
      report = await open(options.errors, 'w').catch((error: NodeJS.ErrnoException) => {
        throw new Error(`cannot write ${options.errors}: ${error.code ?? error.message}`);
      });
    }
    // Bulk batches on a large, indexed table may rightly take longer than a request's query bound (0: none).
    const runtime = await openRuntime({ ...loadConfig(), queryTimeoutMs: 0 }, (m) => process.stderr.write(`${m}\n`));
    try {
      const pending = await runtime.migrator.pending();
      if (pending.length > 0) {
        throw new Error(`the database has ${pending.length} pending migration(s): run "user-service migrate up" first`);
      }
      // The bar is for people watching a terminal; logs and pipes get only the summary line.
      let bars: MultiBar | undefined;
      let bar: SingleBar | undefined;
      if (process.stderr.isTTY) {
        bars = new MultiBar(
          {
            stream: process.stderr,
            format: 'importing [{bar}] {percentage}% | {rows} rows | {failed} failed',
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        bar = bars.create(size, 0, { rows: 0, failed: 0 });
      }
      const log = (text: string) => (bars ? bars.log(text) : process.stderr.write(text));
      const errors = new ErrorReport(report, log);
      const importer = new Importer(runtime.database, options, errors);
      try {
        try {
          for await (const item of readUsers(format, input.createReadStream({ autoClose: false }))) {
            await importer.take(item);
            bar?.update(item.bytesRead, { rows: importer.rows, failed: errors.count });
          }
        } catch (error) {
          if (!(error instanceof TransferFormatError)) throw error;
          await importer.flush();
          await errors.add({ line: error.line, email: null, error: error.message });
        }
        await importer.flush();
      } finally {
        // MultiBar prints logged lines on its next redraw only: draw once more, so the last ones are not lost.
        bars?.update();
        bars?.stop();
        bars = undefined;
        // Printed whether the run finished or stopped on an error, so the operator knows what was written.
        process.stdout.write(`${importer.summary()}\n`);
      }
      return errors.count;
    } finally {
      await runtime.database.close();
    }
  } finally {
    await report?.close();
    await input.close();
  }
}

/** Validates rows, catches duplicates within the file, and writes valid rows a batch at a time. */
class Importer {
  rows = 0;
  private imported = 0;
  private importedPersonas = 0;
  private valid = 0;
  private empty = 0;
  private batch: Pending[] = [];
  // First line of each email, username and explicit id seen so far. A repeat would also be refused by the
  // database, but only here can the report point at the earlier line, and --dry-run writes nothing to hit.
  // It costs one short string a user (and one a persona with an id), never the rows themselves.
  private readonly seen = {
    email: new Map<string, number>(),
    username: new Map<string, number>(),
    id: new Map<string, number>(),
    personaId: new Map<string, number>(),
  };

  constructor(
    private readonly database: Database,
    private readonly options: ImportOptions,
    private readonly errors: ErrorReport,
  ) {}

  /** One item from the reader: a record, a line that could not be read as one (an error), an empty line. */
  async take(item: SourceItem): Promise<void> {
    if (item.kind === 'empty') {
      this.empty++;
      return;
    }
    this.rows++;
    if (item.kind === 'unreadable') {
      await this.errors.add({ line: item.line, email: null, error: item.error });
      return;
    }
    const result = validateUser(item.fields);
    if (!result.ok) {
      await this.errors.add({ line: item.line, email: result.email, error: result.error });
      return;
    }
    const { user, personas } = result;
    const repeat = this.repeatIn(user, personas);
    if (repeat) {
      await this.errors.add({ line: item.line, email: user.email, error: repeat });
      return;
    }
    this.remember(user, personas, item.line);
    this.batch.push({ line: item.line, user, personas });
    if (this.batch.length >= this.options.batchSize) await this.flush();
  }

  private repeatIn(user: ImportedUser, personas: readonly ImportedPersona[]): string | undefined {
    const keys = [['email', user.email] as const, ['username', user.username] as const, ['id', user.id] as const];
    for (const [field, value] of keys) {
      const first = value ? this.seen[field].get(value) : undefined;
      if (first !== undefined) return `${field} ${quote(value)} appears earlier in the file (line ${first})`;
    }
    for (const [index, persona] of personas.entries()) {
      const first = persona.id ? this.seen.personaId.get(persona.id) : undefined;
      if (first !== undefined) {
        return `personas[${index}].id ${quote(persona.id)} appears earlier in the file (line ${first})`;
      }
    }
    return undefined;
  }

  private remember(user: ImportedUser, personas: readonly ImportedPersona[], line: number): void {
    this.seen.email.set(user.email, line);
    if (user.username) this.seen.username.set(user.username, line);
    if (user.id) this.seen.id.set(user.id, line);
    for (const persona of personas) if (persona.id) this.seen.personaId.set(persona.id, line);
  }

  /**
   * Writes the current batch, users and their personas, in one unit of work; or, when a row in it is already
   * taken, row by row, each user with its personas in a unit of its own.
   */
  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    this.valid += batch.length;
    if (this.options.dryRun) return this.reportTaken(batch);
    try {
      await this.database.unitOfWork(async (uow) => {
        const users = await new UserRepository(uow).insertMany(batch.map((p) => p.user));
        // insertMany returns the rows in input order, ids filled in: each persona gets its user's.
        const personas = batch.flatMap((p, i) => withUser(p.personas, users[i]?.id as string));
        await new PersonaRepository(uow).insertMany(personas);
      });
      this.imported += batch.length;
      this.importedPersonas += batch.reduce((n, p) => n + p.personas.length, 0);
      return;
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
    }
    // The batch rolled back as a whole; each row on its own finds exactly the ones that conflict.
    for (const p of batch) {
      try {
        await this.database.unitOfWork(async (uow) => {
          const user = await new UserRepository(uow).create(p.user);
          await new PersonaRepository(uow).insertMany(withUser(p.personas, user.id)).catch((error: unknown) => {
            throw error instanceof UniqueViolationError ? new PersonaConflict(error) : error;
          });
        });
        this.imported++;
        this.importedPersonas += p.personas.length;
      } catch (error) {
        let message: string;
        if (error instanceof PersonaConflict) message = await this.personaTakenMessage(error.conflict, p.personas);
        else if (error instanceof UniqueViolationError) message = takenMessage(error.columns, p.user);
        else throw error;
        await this.errors.add({ line: p.line, email: p.user.email, error: message });
      }
    }
  }

  /** Which persona of a row conflicts: one whose id is taken, or two names the database counts as equal. */
  private async personaTakenMessage(
    error: UniqueViolationError,
    personas: readonly ImportedPersona[],
  ): Promise<string> {
    if (error.columns.includes('id')) {
      const ids = personas.flatMap((p) => (p.id ? [p.id] : []));
      const taken = await this.takenPersonaIds(ids);
      const index = personas.findIndex((p) => p.id && taken.has(p.id));
      if (index !== -1) return `a persona with id ${quote(personas[index]?.id)} already exists (personas[${index}])`;
    }
    if (error.columns.some((column) => column.startsWith('name'))) {
      // Names were checked without regard to case; a database collation may also equate accents or widths.
      return 'two of its personas have names the database counts as equal';
    }
    return 'a persona conflicts with an existing one';
  }

  /** The ids among these that a persona in the database already has, a bounded query at a time. */
  private takenPersonaIds(ids: readonly string[]): Promise<Set<string>> {
    return new PersonaRepository(this.database).takenIds(ids);
  }

  /** --dry-run: the same conflicts a real run would meet, found with one read-only query a batch. */
  private async reportTaken(batch: Pending[]): Promise<void> {
    const taken = await new UserRepository(this.database).taken({
      emails: batch.map((p) => p.user.email),
      usernames: batch.flatMap((p) => (p.user.username ? [p.user.username] : [])),
      ids: batch.flatMap((p) => (p.user.id ? [p.user.id] : [])),
    });
    const takenPersonas = await this.takenPersonaIds(batch.flatMap((p) => p.personas.flatMap((q) => q.id ?? [])));
    for (const p of batch) {
      const columns = (['id', 'email', 'username'] as const).filter((c) => p.user[c] && taken[c].has(p.user[c]));
      const index = p.personas.findIndex((q) => q.id && takenPersonas.has(q.id));
      if (columns.length > 0 || index !== -1) {
        this.valid--;
        const error =
          columns.length > 0
            ? takenMessage(columns, p.user)
            : `a persona with id ${quote(p.personas[index]?.id)} already exists (personas[${index}])`;
        await this.errors.add({ line: p.line, email: p.user.email, error });
      }
    }
  }

  summary(): string {
    const line =
      `imported ${this.imported}, failed ${this.errors.count}, skipped ${this.empty} (empty lines); ` +
      `${this.importedPersonas} ${this.importedPersonas === 1 ? 'persona' : 'personas'} with the imported users`;
    return this.options.dryRun ? `${line}; dry run: ${this.valid} valid, nothing written` : line;
  }
}

function withUser(personas: readonly ImportedPersona[], userId: string): NewPersonaRow[] {
  return personas.map((persona) => ({ ...persona, user_id: userId }));
}

function takenMessage(columns: readonly string[], user: ImportedUser): string {
  for (const field of ['id', 'email', 'username'] as const) {
    if (columns.includes(field)) return `a user with ${field} ${quote(user[field])} already exists`;
  }
  return 'conflicts with an existing user';
}

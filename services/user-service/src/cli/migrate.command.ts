import { autogenerateMigration, scaffoldMigration } from '@user-service/data';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { DECLARED_TABLES } from '../declared-tables.js';
import { MIGRATIONS_DIR, openRuntime, type Runtime } from '../runtime.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function withRuntime<T>(fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const runtime = await openRuntime(config, (m) => process.stderr.write(`${m}\n`));
  try {
    say(`database: ${runtime.database.displayUrl}`);
    return await fn(runtime);
  } finally {
    await runtime.database.close();
  }
}

/** "+2" or "2" -> 2; "head" -> Infinity. */
function upTarget(value: string): number {
  if (value === 'head') return Number.POSITIVE_INFINITY;
  const n = Number(value.replace(/^\+/, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use "head" or +N, e.g. +1');
  return n;
}

/** "-2" or "2" -> 2; "base" -> 'base'. */
function downTarget(value: string): number | 'base' {
  if (value === 'base') return 'base';
  const n = Number(value.replace(/^-/, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use "base" or -N, e.g. -1');
  return n;
}

/** `migrate up|down|current|history|new|check`, Alembic's verbs. */
export function migrateCommand(): Command {
  const migrate = new Command('migrate').description('Apply, revert and inspect database migrations (Alembic-like)');

  migrate
    .command('up')
    .description('apply pending migrations: all ("head", the default) or the next N ("+N")')
    .argument('[target]', 'head or +N', upTarget, Number.POSITIVE_INFINITY)
    .action((steps: number) =>
      withRuntime(async ({ migrator }) => {
        const applied = await migrator.up(steps);
        say(applied.length ? applied.map((n) => `applied  ${n}`).join('\n') : 'nothing to apply: already at head');
      }),
    );

  migrate
    .command('down')
    .description('revert the last migration ("-1", the default), the last N ("-N"), or all ("base")')
    .argument('[target]', '-N or base', downTarget, 1)
    .action((steps: number | 'base') =>
      withRuntime(async ({ migrator }) => {
        const reverted = await migrator.down(steps);
        say(reverted.length ? reverted.map((n) => `reverted ${n}`).join('\n') : 'nothing to revert: already at base');
      }),
    );

  migrate
    .command('current')
    .description('show the newest applied migration')
    .action(() =>
      withRuntime(async ({ migrator }) => {
        const current = await migrator.current();
        const pending = await migrator.pending();
        say(`current: ${current ?? '(base)'}${pending.length ? ` (${pending.length} pending)` : ' (head)'}`);
      }),
    );

  migrate
    .command('history')
    .description('list every migration, oldest first, and whether it is applied')
    .action(() =>
      withRuntime(async ({ migrator }) => {
        for (const m of await migrator.history())
          say(`${m.appliedAt ? `applied ${m.appliedAt}` : 'pending                         '}  ${m.name}`);
      }),
    );

  migrate
    .command('new')
    .description(
      'scaffold a new migration file: empty, or with --autogenerate the differences between the table definitions and the database',
    )
    .argument('[name]', 'what it does, e.g. add_user_locale (or -m)')
    .option('-m, --message <message>', 'what it does, e.g. "add user locale"')
    .option('--autogenerate', 'write up and down from the differences between the *.table.ts schemas and the database')
    .action(async (name: string | undefined, options: { message?: string; autogenerate?: boolean }) => {
      const message = options.message ?? name;
      if (!message) throw new InvalidArgumentError('name the migration: migrate new <name> or -m "message"');
      if (!options.autogenerate) {
        say(`created ${await scaffoldMigration(MIGRATIONS_DIR, message)}`);
        return;
      }
      await withRuntime(async ({ database }) => {
        const { path, diff } = await autogenerateMigration(database, DECLARED_TABLES, MIGRATIONS_DIR, message);
        if (!path) {
          for (const u of diff.unsupported) say(`not generated: ${u}`);
          say('nothing to generate: the database matches the table definitions');
          return;
        }
        for (const m of diff.messages) say(`detected ${m}`);
        for (const u of diff.unsupported) say(`not generated: ${u} (write it by hand)`);
        say(`created ${path}`);
      });
    });

  migrate
    .command('check')
    .description(
      'exit 1 when migrations are pending or the live schema differs from what the migrations produce or the table definitions declare',
    )
    .action(() =>
      withRuntime(async ({ migrator }) => {
        const { pending, drift } = await migrator.check({ declared: DECLARED_TABLES });
        for (const p of pending) say(`pending: ${p}`);
        for (const d of drift) say(`drift:   ${d}`);
        if (pending.length || drift.length) {
          process.exitCode = 1;
        } else {
          say('ok: schema is at head and matches the migrations and the table definitions');
        }
      }),
    );
  return migrate;
}

// `user-service seed --users N`: bulk-loads generated users through the data layer's Database.bulkLoad (PostgreSQL
// COPY, SQLite and MySQL multi-row INSERTs; secondary indexes built after the load when the table was empty), for
// benchmarks and demos. Every generated user has a distinct email, username and full name; all of them share ONE
// password hash computed once at start (see SEED_PASSWORD): this is benchmark-only data.
import type { Database } from '@user-service/data';
import { Command, InvalidArgumentError } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../config.js';
import { openRuntime } from '../runtime.js';
import { UserRepository } from '../users/user.repository.js';
import type { UserRow } from '../users/user.table.js';
import { usersTable } from '../users/user.table.js';

/**
 * BENCHMARK-ONLY: the password of every seeded user. Hashing it once per row would make seeding 100k users
 * take minutes, so the seed stores one argon2id hash of it (computed with the service's own PasswordHasher and
 * parameters) in every row. Never seed a database that real people use.
 */
export const SEED_PASSWORD = 'benchmark-only-password';

// biome-ignore format: a dense list reads better than one name a line
export const FIRST_NAMES = [
  'Ada', 'Alan', 'Alice', 'Amara', 'Andrea', 'Anna', 'Arjun', 'Beatriz', 'Benjamin', 'Carlos', 'Chen', 'Chloe',
  'Daniel', 'David', 'Elena', 'Emma', 'Fatima', 'Felix', 'Grace', 'Hannah', 'Hiroshi', 'Ines', 'Isaac', 'Ivan',
  'Jamal', 'Jana', 'Joao', 'Julia', 'Kenji', 'Lars', 'Laura', 'Leila', 'Lucas', 'Maria', 'Marta', 'Mateo',
  'Mei', 'Mohammed', 'Nadia', 'Noah', 'Nora', 'Olga', 'Omar', 'Paul', 'Priya', 'Rafael', 'Rosa', 'Sara',
  'Sofia', 'Tariq', 'Thomas', 'Una', 'Victor', 'Wei', 'Yara', 'Yusuf', 'Zoe', 'Zanele', 'Emil', 'Ingrid',
];

// biome-ignore format: a dense list reads better than one name a line
export const LAST_NAMES = [
  'Abebe', 'Andersen', 'Baker', 'Bianchi', 'Brown', 'Castro', 'Chen', 'Costa', 'Dubois', 'Eriksson', 'Fischer',
  'Garcia', 'Gonzalez', 'Haddad', 'Hansen', 'Ivanova', 'Jensen', 'Johnson', 'Kim', 'Kowalski', 'Kumar',
  'Larsen', 'Lopez', 'Lovelace', 'Martin', 'Meyer', 'Moreau', 'Muller', 'Nakamura', 'Nguyen', 'Novak',
  'Okafor', 'Olsen', 'Park', 'Patel', 'Pereira', 'Petrov', 'Rossi', 'Santos', 'Schmidt', 'Silva', 'Singh',
  'Smith', 'Sato', 'Suzuki', 'Tanaka', 'Turing', 'Virtanen', 'Wagner', 'Wang', 'Weber', 'Williams', 'Wilson',
  'Yamamoto', 'Yilmaz', 'Zhang', 'Ziegler', 'Mendes', 'Osei', 'Hopper',
];

const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'corp.example.org'];

// Seeded users were "created" one every ~90 s from this instant on (1M users span ~3 years), in index order,
// and their ids are UUIDv7 of that same instant, so id order is creation order as for real users.
const EPOCH_MS = Date.UTC(2022, 0, 1);
const SPACING_MS = 90_000;

/** A small deterministic PRNG (mulberry32), so user #i is the same on every run and every database. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const pick = <T>(list: readonly T[], r: number): T => list[Math.floor(r * list.length)] as T;

// The names as emails and usernames spell them, lowercased once rather than once a row.
const FIRST_LOWER = FIRST_NAMES.map((name) => name.toLowerCase());
const LAST_LOWER = LAST_NAMES.map((name) => name.toLowerCase());
/** The random bits of a seeded id, from the user's own PRNG (no crypto call a row; the id is the same every run). */
const ID_RANDOM = new Uint8Array(16);
const ID_BITS = new DataView(ID_RANDOM.buffer);

/** Generated user number `i` (0-based): realistic, distinct, and the same on every run. */
export function seedUser(
  i: number,
  hashedPassword: string,
): Omit<UserRow, 'is_active' | 'is_superuser' | 'is_verified' | 'verified_at'> {
  const next = random(Math.imul(i + 1, 2_654_435_761));
  const f = Math.floor(next() * FIRST_NAMES.length);
  const l = Math.floor(next() * LAST_NAMES.length);
  const at = EPOCH_MS + i * SPACING_MS + Math.floor(next() * (SPACING_MS - 1));
  const createdAt = new Date(at).toISOString();
  // The index in base 36 makes each email and username unique; the names make them look like real ones.
  const tag = i.toString(36);
  const domain = pick(DOMAINS, next());
  const first = FIRST_LOWER[f] as string;
  const last = LAST_LOWER[l] as string;
  for (let b = 0; b < 16; b += 4) ID_BITS.setUint32(b, next() * 4_294_967_296);
  return {
    id: uuidv7({ msecs: at, random: ID_RANDOM }),
    email: `${first}.${last}.${tag}@${domain}`,
    username: `${first}_${last}${tag}`,
    full_name: `${FIRST_NAMES[f]} ${LAST_NAMES[l]}`,
    hashed_password: hashedPassword,
    created_at: createdAt,
    updated_at: createdAt,
  };
}

export interface SeedOptions {
  count: number;
  /** Index of the first generated user; users are numbered so repeated runs add new, distinct users. */
  start: number;
  /** Rows per statement (COPY chunk on PostgreSQL); undefined: the database's default. */
  batch: number | undefined;
  hashedPassword: string;
  /**
   * Drop the secondary indexes before the load and build them after (Database.bulkLoad's default: only into an
   * empty table). On PostgreSQL the dropped indexes hold the table exclusively until the load commits.
   */
  rebuildIndexes?: boolean;
  onProgress?: (done: number) => void;
}

/** Generated users `start` .. `start + count - 1`, made as they are read. */
function* seedRows(options: SeedOptions) {
  for (let i = 0; i < options.count; i++) yield seedUser(options.start + i, options.hashedPassword);
}

/**
 * Loads `count` generated users in one bulk load (see Database.bulkLoad: one transaction, except the index DDL on
 * MySQL/MariaDB). Resolves to the number of rows loaded.
 */
export function seedUsers(database: Database, options: SeedOptions): Promise<number> {
  return database.bulkLoad(usersTable, seedRows(options), {
    ...(options.rebuildIndexes === undefined ? {} : { rebuildIndexes: options.rebuildIndexes }),
    ...(options.batch === undefined ? {} : { rowsPerStatement: options.batch }),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

function count(min: number) {
  return (value: string): number => {
    const n = Number(value.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return n;
  };
}

export function seedCommand(): Command {
  return new Command('seed')
    .description(`bulk-insert N generated users (benchmark/demo data: every one has the password "${SEED_PASSWORD}")`)
    .requiredOption('--users <n>', 'how many users to add', count(1))
    .option(
      '--batch <n>',
      "rows per INSERT statement (per chunk of COPY data on PostgreSQL); the whole seed is one bulk load (default: the database's own)",
      count(1),
    )
    .option('--start <n>', 'number of the first generated user (default: the current number of users)', count(0))
    .action(async (options: { users: number; batch?: number; start?: number }) => {
      const config = loadConfig();
      // A bulk load runs without a per-query bound anyway (Database.bulkLoad); the start-up queries need none.
      const runtime = await openRuntime({ ...config, queryTimeoutMs: 0 }, (m) => process.stderr.write(`${m}\n`));
      try {
        const { database, migrator, hasher } = runtime;
        if (config.migrateOnStart) await migrator.up();
        const pending = await migrator.pending();
        if (pending.length)
          throw new Error(`${pending.length} migration(s) pending: run "npm run migrate -- up" first`);
        const existing = await new UserRepository(database).count();
        const start = options.start ?? existing;
        // Benchmark-only: one hash shared by every seeded row (see SEED_PASSWORD).
        const hashedPassword = await hasher.hash(SEED_PASSWORD);
        const startedAt = performance.now();
        let reported = 0;
        await seedUsers(database, {
          count: options.users,
          start,
          batch: options.batch,
          // A load that at least doubles the table builds its indexes once over the whole table rather than
          // maintaining them row by row (PostgreSQL's trigram GIN indexes: ~2k rows/s maintained, issue 13), so
          // growing 1M to 10M costs one build, as seeding an empty table does.
          rebuildIndexes: options.users >= existing,
          hashedPassword,
          onProgress: (done) => {
            if (process.stderr.isTTY && done - reported >= 50_000) {
              reported = done;
              process.stderr.write(`  ${done} / ${options.users}\n`);
            }
          },
        });
        // The time includes the index builds and the planner statistics: Database.bulkLoad ends with ANALYZE
        // (VACUUM (ANALYZE) on PostgreSQL). Without fresh statistics PostgreSQL estimated 6.5k rows right after
        // seeding 100k and sorted the whole table for a deep page instead of walking ix_users_created_at (issue 13).
        const seconds = (performance.now() - startedAt) / 1000;
        process.stdout.write(
          `seeded ${options.users} users in ${seconds.toFixed(2)} s (${Math.round(options.users / seconds)} rows/s) into ${database.displayUrl}; numbered ${start}..${start + options.users - 1}, password "${SEED_PASSWORD}"; statistics updated (ANALYZE, part of the load)\n`,
        );
      } finally {
        await runtime.database.close();
      }
    });
}

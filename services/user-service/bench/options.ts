/** Benchmark options from argv (`npm run bench -- --db sqlite --users 20000`) or BENCH_* environment variables. */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

export type DbKind = 'sqlite' | 'postgres' | 'mariadb';

export interface BenchOptions {
  /** Databases to run on, in order. */
  dbs: DbKind[];
  /** Whether --db was given: a requested server that is not reachable is then an error, not a skip. */
  dbsRequested: boolean;
  users: number;
  /** Seconds per measurement. */
  duration: number;
  rounds: number;
  /** WORKERS values; the workloads run on the largest, get-by-id on each (for the scaling ratio). */
  workers: number[];
  /**
   * `required` (default): the workloads run as a deployment serves them, AUTH_REQUIRED=true with a superuser's
   * bearer token; `off`: on AUTH_REQUIRED=false without credentials, as before issue 9 (see workloads.ts).
   */
  auth: 'required' | 'off';
  /** Concurrent HTTP connections of the load generator (and concurrent queries of the database limit). */
  connections: number;
  /**
   * Issue 12's scale-out benchmark instead of the default one (bench/scale.ts): a private PostgreSQL primary and
   * replica, a private Redis and PgBouncer; docs/SCALING-RESULTS.md. --db does not apply.
   */
  scale: boolean;
  /**
   * `list-scaling` (issue 13's 10M run): seed once, growing the table through the sizes (10k, 100k, 1M, ...,
   * --users) and measure only the latency-vs-size points there; writes bench/results/<date>-<db>-sizes.json,
   * which the report merges into the database's latency table and chart. Undefined: the whole benchmark.
   */
  only?: 'list-scaling';
  /** Only regenerate docs/PERFORMANCE.md (docs/SCALING-RESULTS.md with --scale) from the saved results. */
  reportOnly: boolean;
  /** The command as typed, for the report. */
  command: string;
}

export const USAGE = `npm run bench -- [options]     (each also as an environment variable)
  --db sqlite,postgres,mariadb   BENCH_DB           databases (default: sqlite, and postgres when reachable)
  --users N                      BENCH_USERS        table size (default 100000; 1000000 for the 1M figures)
  --duration S                   BENCH_DURATION     seconds per measurement (default 5)
  --rounds R                     BENCH_ROUNDS       rounds, medians are reported (default 3)
  --workers 1,2                  BENCH_WORKERS      WORKERS values (default: 1 and the number of cores)
  --connections C                BENCH_CONNECTIONS  concurrent connections (default 16)
  --auth required|off            BENCH_AUTH         required (default): AUTH_REQUIRED=true, requests carry a
                                                    superuser's bearer token; off: AUTH_REQUIRED=false, no
                                                    credentials (as before issue 9). Either way get-by-id also
                                                    runs open, with a bearer token and with an API key.
  --scale                        BENCH_SCALE=true   the scale-out benchmark (issue 12) instead: get by id/email
                                                    with/without the Redis cache, through a read replica vs the
                                                    primary alone, through PgBouncer vs direct, two instances vs
                                                    one; private PostgreSQL primary + replica, Redis and
                                                    PgBouncer on free loopback ports; writes
                                                    bench/results/<date>-scale.json and docs/SCALING-RESULTS.md.
                                                    Uses --users, --duration, --rounds, --connections and the
                                                    largest --workers (WORKERS per instance); not --db, --auth
  --only list-scaling            BENCH_ONLY         only the latency-vs-size points (one request at a time: list
                                                    offset/cursor pages and search at 10k, 100k, 1M, 10M up
                                                    to --users), seeding once and growing the table between
                                                    sizes; writes bench/results/<date>-<db>-sizes.json, merged
                                                    into the report's latency table and chart. The 10M run:
                                                    npm run bench -- --db postgres --users 10M --only list-scaling
  --report-only                                     only regenerate docs/PERFORMANCE.md (with --scale:
                                                    docs/SCALING-RESULTS.md) from bench/results
  PostgreSQL/MariaDB servers: BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres),
  BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306/test); a fresh database is created there and dropped after.`;

function positive(name: string, raw: string, float = false): number {
  const value = Number(raw.replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000'));
  if (!Number.isFinite(value) || value <= 0 || (!float && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${float ? 'number' : 'integer'}, got "${raw}"`);
  }
  return value;
}

function dbKind(raw: string): DbKind {
  const v = raw.trim().toLowerCase();
  if (v === 'sqlite' || v === 'postgres' || v === 'mariadb') return v;
  if (v === 'postgresql' || v === 'pg') return 'postgres';
  if (v === 'mysql') return 'mariadb';
  throw new Error(`--db must be sqlite, postgres or mariadb, got "${raw}"`);
}

function authMode(raw: string): BenchOptions['auth'] {
  const v = raw.trim().toLowerCase();
  if (v === 'required' || v === 'on' || v === 'true') return 'required';
  if (v === 'off' || v === 'false') return 'off';
  throw new Error(`--auth must be required or off, got "${raw}"`);
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string' },
      users: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      workers: { type: 'string' },
      connections: { type: 'string' },
      auth: { type: 'string' },
      scale: { type: 'boolean' },
      only: { type: 'string' },
      'report-only': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const get = (name: keyof typeof values, envName: string) => (values[name] as string | undefined) ?? env[envName];
  const db = get('db', 'BENCH_DB');
  const cores = availableParallelism();
  const workersRaw = get('workers', 'BENCH_WORKERS');
  const workers = workersRaw
    ? [...new Set(workersRaw.split(',').map((w) => positive('workers', w)))].sort((a, b) => a - b)
    : [...new Set([1, cores])];
  const only = get('only', 'BENCH_ONLY');
  if (only !== undefined && only !== 'list-scaling') throw new Error(`--only must be list-scaling, got "${only}"`);
  return {
    ...(only ? { only } : {}),
    dbs: db ? [...new Set(db.split(',').map(dbKind))] : ['sqlite', 'postgres'],
    dbsRequested: db !== undefined,
    users: positive('users', get('users', 'BENCH_USERS') ?? '100000'),
    duration: positive('duration', get('duration', 'BENCH_DURATION') ?? '5', true),
    rounds: positive('rounds', get('rounds', 'BENCH_ROUNDS') ?? '3'),
    workers,
    connections: positive('connections', get('connections', 'BENCH_CONNECTIONS') ?? '16'),
    auth: authMode(get('auth', 'BENCH_AUTH') ?? 'required'),
    scale: values.scale === true || /^(1|true|yes)$/i.test(env.BENCH_SCALE ?? ''),
    reportOnly: values['report-only'] === true,
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
  };
}

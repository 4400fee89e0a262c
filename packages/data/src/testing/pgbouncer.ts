/**
 * A PgBouncer of a test's own in transaction pooling mode, in front of a PostgreSQL server: Debian's pgbouncer
 * (1.18 on bookworm), run from a temporary folder holding its ini and auth files, as the `postgres` user when
 * the test runs as root (pgbouncer refuses to run as root), else as the current user, listening on a free loopback port. The admin console (`SHOW POOLS`, `SHOW STATS`)
 * lets a test prove that its traffic went through the pooler.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { parseDatabaseUrl } from '../database-url.js';
import { postgresOwner } from './private-postgres.js';
import { freePort, sleep } from './processes.js';
import { createServerDatabase } from './server-databases.js';

const run = promisify(execFile);

const CANDIDATES = [process.env.PGBOUNCER_BIN, '/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];

function pgbouncerBinary(): string | undefined {
  return CANDIDATES.find((path): path is string => !!path && existsSync(path));
}

/** Why a pgbouncer cannot run here, or undefined when it can. */
export async function pgbouncerUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'needs Linux';
  if (!pgbouncerBinary()) return 'pgbouncer not found (apt-get install pgbouncer, or set PGBOUNCER_BIN)';
  // pgbouncer refuses to run as root: root starts it as postgres, anyone else as themselves.
  if (process.getuid?.() !== 0) return undefined;
  try {
    await run('id', ['-u', 'postgres']);
  } catch (error) {
    return `running as root, and no postgres user to run pgbouncer as (${(error as Error).message})`;
  }
  return undefined;
}

export interface PgBouncerOptions {
  /** The PostgreSQL server behind it. */
  host: string;
  port: number;
  /** The database clients ask for (the same name on the server). */
  database: string;
  /** The role clients log in as; the server must trust it from 127.0.0.1 (auth_type here is trust). */
  user: string;
  /** Server connections per database/user pair (default 4: small, so a suite really multiplexes clients). */
  poolSize?: number;
  /** pool_mode (default transaction: the mode whose limits the data layer must live with). */
  poolMode?: 'transaction' | 'session' | 'statement';
  /** More [pgbouncer] settings, written after the defaults (e.g. `{ verbose: 2, log_connections: 1 }`). */
  settings?: Record<string, string | number>;
}

/** One row of the admin console's SHOW POOLS / SHOW STATS, numbers as numbers. */
export type AdminRow = Record<string, string | number>;

export class PgBouncer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly options: Required<PgBouncerOptions>,
  ) {}

  /** A DATABASE_URL that goes through this pgbouncer, with `?pgbouncer=true` (see the postgres dialect). */
  get url(): string {
    return `postgres://${encodeURIComponent(this.options.user)}@127.0.0.1:${this.port}/${encodeURIComponent(this.options.database)}?pgbouncer=true`;
  }

  /** The same without the option: what a user who does not know about it would write. */
  get plainUrl(): string {
    return this.url.replace(/\?pgbouncer=true$/, '');
  }

  static async start(options: PgBouncerOptions): Promise<PgBouncer> {
    const binary = pgbouncerBinary();
    if (!binary) throw new Error('pgbouncer not found');
    const settings: Required<PgBouncerOptions> = { poolSize: 4, poolMode: 'transaction', settings: {}, ...options };
    const dir = mkdtempSync(join(tmpdir(), 'us-pgbouncer-'));
    // As root, everything belongs to postgres, which pgbouncer runs as; otherwise to the current user already.
    const owner = process.getuid?.() === 0 ? await postgresOwner() : undefined;
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const port = await freePort();
    const bouncer = new PgBouncer(dir, port, settings);
    const ini = [
      '[databases]',
      `${settings.database} = host=${settings.host} port=${settings.port} dbname=${settings.database}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      // No Unix socket: the test folder would need to be reachable by clients, and TCP is what they use.
      'unix_socket_dir =',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      // trust: the shared test server trusts 127.0.0.1 too; the user must still be listed in auth_file.
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `admin_users = ${settings.user}`,
      `stats_users = ${settings.user}`,
      `pool_mode = ${settings.poolMode}`,
      `default_pool_size = ${settings.poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 500',
      // Totals in SHOW STATS are live; the averages every second instead of every minute, for tests that look.
      'stats_period = 1',
      'server_login_retry = 1',
      'log_connections = 0',
      'log_disconnections = 0',
      'log_stats = 0',
      ...Object.entries(settings.settings).map(([key, value]) => `${key} = ${value}`),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'pgbouncer.ini'), ini);
    writeFileSync(join(dir, 'userlist.txt'), `"${settings.user.replace(/"/g, '""')}" ""\n`);
    if (owner) for (const file of ['pgbouncer.ini', 'userlist.txt']) chownSync(join(dir, file), owner.uid, owner.gid);
    // As root, started directly with the postgres uid/gid (Node drops root's supplementary groups too) rather
    // than through runuser, so that the child's pid is pgbouncer's own and stop() signals the right process.
    const child = spawn(binary, [join(dir, 'pgbouncer.ini')], {
      ...owner,
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    bouncer.child = child;
    child.stdout?.on('data', (d) => (bouncer.output += d));
    child.stderr?.on('data', (d) => (bouncer.output += d));
    try {
      await bouncer.waitUntilListening(10_000);
    } catch (error) {
      await bouncer.stop();
      throw error;
    }
    return bouncer;
  }

  private async waitUntilListening(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null) {
        throw new Error(`pgbouncer exited with ${this.child?.exitCode}:\n${this.log()}`);
      }
      const open = await new Promise<boolean>((resolve) => {
        const socket = connect(this.port, '127.0.0.1');
        socket.on('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      if (open) return;
      await sleep(25);
    }
    throw new Error(`pgbouncer did not listen on 127.0.0.1:${this.port} within ${timeoutMs} ms:\n${this.log()}`);
  }

  /**
   * Runs a command on the admin console (the `pgbouncer` database; simple query protocol only, which pg uses
   * for a query without parameters). Numeric columns come back as numbers.
   */
  async admin(command: string): Promise<AdminRow[]> {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: this.port,
      user: this.options.user,
      database: 'pgbouncer',
      connectionTimeoutMillis: 5_000,
    });
    await client.connect();
    try {
      const { rows } = await client.query(command);
      return rows.map((row: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(row).map(([k, v]) => [
            k,
            typeof v === 'number' || (typeof v === 'string' && /^-?\d+$/.test(v)) ? Number(v) : String(v),
          ]),
        ),
      );
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** SHOW POOLS's row for the proxied database. */
  async pool(): Promise<AdminRow> {
    const row = (await this.admin('SHOW POOLS')).find((r) => r.database === this.options.database);
    if (!row) throw new Error(`no pool for ${this.options.database} yet`);
    return row;
  }

  /**
   * SHOW STATS's totals for the proxied database: transactions and queries the pooler has passed to the server
   * (total_xact_count, total_query_count), zeros before any client used it.
   */
  async totals(): Promise<{ transactions: number; queries: number }> {
    const row = (await this.admin('SHOW STATS')).find((r) => r.database === this.options.database);
    return { transactions: Number(row?.total_xact_count ?? 0), queries: Number(row?.total_query_count ?? 0) };
  }

  log(): string {
    const file = join(this.dir, 'pgbouncer.log');
    // pgbouncer writes its log to the file and to stderr alike; the file once it exists.
    return existsSync(file) ? readFileSync(file, 'utf8') : this.output;
  }

  /** SIGTERM (immediate shutdown: client connections are closed), then removes the folder. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!done) child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A fresh database on the shared PostgreSQL server (TEST_POSTGRES_URL) with a PgBouncer of its own in front, in
 * transaction mode with `poolSize` server connections. `close()` stops the pooler and drops the database.
 */
export async function pgbouncerForNewDatabase(
  prefix: string,
  poolSize: number,
): Promise<{ bouncer: PgBouncer; database: string; close(): Promise<void> }> {
  const created = await createServerDatabase('postgres', { prefix });
  const server = parseDatabaseUrl(created.url);
  if (server.kind !== 'postgres') throw new Error('expected a postgres URL');
  try {
    const bouncer = await PgBouncer.start({
      host: server.host,
      port: server.port,
      database: server.database,
      user: server.user ?? 'postgres',
      poolSize,
    });
    return {
      bouncer,
      database: server.database,
      async close() {
        await bouncer.stop();
        await created.drop();
      },
    };
  } catch (error) {
    await created.drop();
    throw error;
  }
}

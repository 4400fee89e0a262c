/**
 * A PostgreSQL cluster of a test's own, for fault tests that stop, kill and freeze the server, and for replica
 * tests: initdb, pg_ctl and pg_basebackup from the Debian packages, run as the `postgres` user in a temporary
 * folder, on a free loopback port. The shared server on 5432 is never touched.
 *
 * `PrivatePostgres.replicaOf(primary)` makes a hot standby streaming from a running private primary
 * (pg_basebackup -R -X stream); `setApplyDelay(ms)` makes replication lag visible (recovery_min_apply_delay).
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { alive, descendantsOf, freePort, sleep, waitFor } from './processes.js';

const run = promisify(execFile);

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a private cluster cannot run here, or undefined when it can. */
export async function privatePostgresUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (initdb and pg_ctl run as the postgres user via runuser)';
  for (const tool of ['initdb', 'pg_ctl', 'pg_basebackup']) {
    if (!existsSync(join(PG_BIN, tool))) return `${join(PG_BIN, tool)} not found (apt-get install postgresql-15)`;
  }
  try {
    await run('id', ['-u', 'postgres']);
    await run('runuser', ['--help']);
  } catch (error) {
    return `no postgres user or no runuser (${(error as Error).message})`;
  }
  return undefined;
}

/** The postgres user's uid and gid: the cluster's folders must belong to it. */
export async function postgresOwner(): Promise<{ uid: number; gid: number }> {
  const ids = await Promise.all(['-u', '-g'].map((flag) => run('id', [flag, 'postgres'])));
  const [uid, gid] = ids.map((r) => Number(r.stdout.trim()));
  return { uid: uid ?? 0, gid: gid ?? 0 };
}

/** Runs a tool from PG_BIN as the postgres user; resolves with its output. */
export async function asPostgres(tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout, stderr } = await run('runuser', ['-u', 'postgres', '--', join(PG_BIN, tool), ...args], {
    timeout: timeoutMs,
  });
  return `${stdout}${stderr}`;
}

export interface ReplicaOptions {
  /** recovery_min_apply_delay in milliseconds (0 = apply at once). */
  applyDelayMs?: number;
}

export class PrivatePostgres {
  readonly dir: string;
  readonly data: string;
  port = 0;
  /** The primary this cluster streams from, when it is a replica. */
  primary: PrivatePostgres | undefined;
  private frozen: number[] = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'us-pg-'));
    this.data = join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** A URL for another database on this cluster. */
  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  private asPostgres(tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
    return asPostgres(tool, args, timeoutMs);
  }

  private async ownFolder(): Promise<void> {
    const { uid, gid } = await postgresOwner();
    chownSync(this.dir, uid, gid);
  }

  async init(): Promise<void> {
    await this.ownFolder();
    // --no-sync and fsync=off: the tests kill processes, never the machine, and a committed transaction
    // survives a process crash in the page cache; syncing would only make the test slower.
    // initdb --auth=trust also writes `host replication all 127.0.0.1/32 trust`, which pg_basebackup and the
    // replica's walreceiver use; wal_level=replica and max_wal_senders=10 are PostgreSQL 15's defaults.
    await this.asPostgres('initdb', ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    this.port = await freePort();
  }

  /**
   * A hot standby of `primary` (which must be running), started and accepting read-only connections when
   * this resolves. Its data comes from pg_basebackup -R (standby.signal + primary_conninfo) with the WAL
   * written meanwhile streamed alongside (-X stream), so it is consistent as soon as it starts.
   */
  static async replicaOf(primary: PrivatePostgres, options: ReplicaOptions = {}): Promise<PrivatePostgres> {
    const replica = new PrivatePostgres();
    replica.primary = primary;
    try {
      await replica.ownFolder();
      // --checkpoint=fast: the backup starts at once instead of waiting for a spread checkpoint (seconds).
      await replica.asPostgres('pg_basebackup', [
        '-h',
        '127.0.0.1',
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        replica.data,
        '-R',
        '-X',
        'stream',
        '--checkpoint=fast',
        '--no-sync',
      ]);
      if (options.applyDelayMs) {
        // In the configuration file rather than on the command line (-c), which would outrank the
        // ALTER SYSTEM that setApplyDelay() uses later. Appending keeps the file's owner (postgres).
        appendFileSync(
          join(replica.data, 'postgresql.auto.conf'),
          `recovery_min_apply_delay = '${Math.round(options.applyDelayMs)}ms'\n`,
        );
      }
      replica.port = await freePort();
      await replica.start();
      return replica;
    } catch (error) {
      await replica.destroy();
      throw error;
    }
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${this.dir}'`,
      '-c fsync=off',
      // A standby needs max_connections >= its primary's: both use the same value.
      '-c max_connections=60',
      // Reads on a standby (read-only): the default, stated because replica tests rely on it.
      '-c hot_standby=on',
    ].join(' ');
    // -w waits until the server accepts connections (read-only ones for a standby).
    await this.asPostgres('pg_ctl', [
      '-D',
      this.data,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      options,
      '-w',
      '-t',
      '30',
      'start',
    ]);
  }

  /** Runs one statement on this cluster's `postgres` database and returns its rows. */
  async query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values: unknown[] = [],
    database = 'postgres',
  ): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.urlFor(database), connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /**
   * Sets recovery_min_apply_delay on this replica and reloads it: commits become visible here only `ms`
   * after they committed on the primary (0 removes the delay; WAL held back meanwhile is applied at once).
   * ALTER SYSTEM is allowed on a standby: it writes postgresql.auto.conf, not WAL.
   */
  async setApplyDelay(ms: number): Promise<void> {
    if (!this.primary) throw new Error('setApplyDelay: this cluster is not a replica');
    await this.query(`alter system set recovery_min_apply_delay = '${Math.max(0, Math.round(ms))}ms'`);
    await this.query('select pg_reload_conf()');
    // pg_reload_conf() only signals the postmaster; wait until this server reports the new value.
    const expected = Math.max(0, Math.round(ms));
    for (let i = 0; i < 100; i++) {
      const [row] = await this.query<{ v: string }>(
        "select setting as v from pg_settings where name = 'recovery_min_apply_delay'",
      );
      if (Number(row?.v) === expected) return;
      await sleep(20);
    }
    throw new Error(`recovery_min_apply_delay did not become ${expected}ms after a reload`);
  }

  /** The postmaster's pid, from its lock file. */
  postmasterPid(): number {
    return Number(readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  /** A clean, fast stop (connections are ended, a checkpoint is written). */
  async stop(): Promise<void> {
    await this.asPostgres('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
  }

  /** (a) A fast crash-like stop: every process exits at once, no checkpoint. */
  async stopImmediate(): Promise<void> {
    await this.asPostgres('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
  }

  /** (b) SIGKILL of the postmaster; its backends notice and exit by themselves, then it can start again. */
  async killPostmaster(): Promise<void> {
    const postmaster = this.postmasterPid();
    const family = [postmaster, ...descendantsOf(postmaster)];
    process.kill(postmaster, 'SIGKILL');
    if (!(await waitFor(() => family.every((pid) => !alive(pid)), 15_000))) {
      // A backend stuck in a long operation would block the restart (shared memory still attached).
      for (const pid of family.filter(alive)) process.kill(pid, 'SIGKILL');
      await sleep(200);
    }
  }

  /** (c) SIGSTOP of the postmaster and every backend: connections stay open, nothing answers. */
  freeze(): void {
    const postmaster = this.postmasterPid();
    this.frozen = [postmaster, ...descendantsOf(postmaster)];
    for (const pid of this.frozen) process.kill(pid, 'SIGSTOP');
  }

  thaw(): void {
    for (const pid of this.frozen.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  }

  serverLog(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the cluster however it is (frozen, stopped, running) and removes its folder. */
  async destroy(): Promise<void> {
    this.thaw();
    if (existsSync(join(this.data, 'postmaster.pid'))) {
      await this.asPostgres('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop'], 20_000).catch(() => {});
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A PostgreSQL cluster of a test's own, for fault tests that stop, kill and freeze the server: initdb and
 * pg_ctl from the Debian packages, run as the `postgres` user in a temporary folder, on a free loopback port.
 * The shared server on 5432 is never touched.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alive, descendantsOf, sleep, waitFor } from './processes.js';

const run = promisify(execFile);

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a private cluster cannot run here, or undefined when it can. */
export async function privatePostgresUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (initdb and pg_ctl run as the postgres user via runuser)';
  for (const tool of ['initdb', 'pg_ctl']) {
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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

export class PrivatePostgres {
  readonly dir: string;
  readonly data: string;
  port = 0;
  private frozen: number[] = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'us-pg-'));
    this.data = join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private async asPostgres(tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout, stderr } = await run('runuser', ['-u', 'postgres', '--', join(PG_BIN, tool), ...args], {
      timeout: timeoutMs,
    });
    return `${stdout}${stderr}`;
  }

  async init(): Promise<void> {
    const ids = await Promise.all(['-u', '-g'].map((flag) => run('id', [flag, 'postgres'])));
    const [uid, gid] = ids.map((r) => Number(r.stdout.trim()));
    chownSync(this.dir, uid ?? 0, gid ?? 0);
    // --no-sync and fsync=off: the tests kill processes, never the machine, and a committed transaction
    // survives a process crash in the page cache; syncing would only make the test slower.
    await this.asPostgres('initdb', ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    this.port = await freePort();
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${this.dir}'`,
      '-c fsync=off',
      '-c max_connections=60',
    ].join(' ');
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

  /** The postmaster's pid, from its lock file. */
  postmasterPid(): number {
    return Number(readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
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

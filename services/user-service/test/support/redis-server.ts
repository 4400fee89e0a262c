/**
 * A redis-server of the test's own (from /usr/bin), on a free loopback port, without persistence, that the
 * test may stop and start again on the same port (the shared Redis on 6379 is never touched). Stopped with
 * SIGTERM and waited for; killed if it lingers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort, sleep } from './processes.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Why a private redis-server cannot run here, or undefined when it can. */
export function redisServerUnavailable(): string | undefined {
  if (!existsSync(REDIS_SERVER)) return `${REDIS_SERVER} not found (apt-get install redis-server)`;
  const version = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return version.status === 0 ? undefined : `${REDIS_SERVER} --version failed: ${version.stderr}`;
}

export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts it (again) on its port; resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (!this.child) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (await this.ping()) return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
  }

  /** Stops it (SIGTERM, then SIGKILL after 5 s) and waits until it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** A client of its own, for a test that looks inside (close it with quit()). */
  client(): Redis {
    return new Redis(this.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  private async ping(): Promise<boolean> {
    const probe = new Redis(this.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }
}

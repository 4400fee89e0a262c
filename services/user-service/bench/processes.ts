/**
 * Child processes of the benchmark: the service and the bare HTTP server. Each runs in its own process group so
 * that it and any workers it forks stop together; every child is stopped when the benchmark exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serviceEntry } from './service-build.js';

export const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface Child {
  name: string;
  pid: number;
  port: number;
  url: string;
  /** Log lines at level warn or above (pino JSON level >= 40) and stderr lines that speak of a problem. */
  problems: string[];
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** A token-signing key for the benchmark's service processes (benchmark-only, random per run). */
export const BENCH_JWT_SECRET = process.env.JWT_SECRET ?? `bench-only-${randomBytes(24).toString('hex')}`;

function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // already gone
  }
}

/** Stops every child still running (on exit and on Ctrl-C). */
export function stopAllChildren(): void {
  for (const proc of running) killGroup(proc, 'SIGKILL');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** GET url; resolves with the status code (0 when nothing answers). */
export function probe(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function waitForHealth(url: string, timeoutMs: number, intervalMs = 10): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if ((await probe(url, 500)) === 200) return performance.now() - startedAt;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

export interface SpawnSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  healthPath?: string;
  timeoutMs?: number;
}

export async function startChild(spec: SpawnSpec): Promise<Child> {
  const proc = spawn(spec.command, spec.args, {
    cwd: SERVICE_DIR,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  const problems: string[] = [];
  const note = (line: string) => {
    if (line.trim() && problems.length < 200) problems.push(line.slice(0, 500));
  };
  let tail = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (/"level":(4|5|6)\d/.test(line)) note(line);
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
    for (const line of chunk.split('\n'))
      if (/warn|error|fail|exception|unhandled|denied|refused/i.test(line)) note(line);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.once('exit', () => running.delete(proc));
  const url = `http://127.0.0.1:${spec.port}`;
  try {
    await Promise.race([
      waitForHealth(`${url}${spec.healthPath ?? '/health'}`, spec.timeoutMs ?? 30_000),
      exited.then(() => {
        throw new Error(`${spec.name} exited with ${proc.exitCode}: ${tail.trim()}`);
      }),
    ]);
  } catch (error) {
    killGroup(proc, 'SIGKILL');
    throw error;
  }
  return {
    name: spec.name,
    pid: proc.pid as number,
    port: spec.port,
    url,
    problems,
    stop: async () => {
      killGroup(proc, 'SIGTERM');
      const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The service as `npm start` runs it (see service-build.ts), migrating its database on start, warnings only. */
export async function startService(databaseUrl: string, workers: number): Promise<Child> {
  const port = await freePort();
  return startChild({
    name: `service (WORKERS=${workers})`,
    command: process.execPath,
    args: serviceEntry().args,
    env: {
      MALLOC_MMAP_THRESHOLD_: '131072',
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      MIGRATE_ON_START: 'true',
      WORKERS: String(workers),
      JWT_SECRET: BENCH_JWT_SECRET,
    },
    port,
    timeoutMs: 60_000,
  });
}

/** The bare Fastify server returning the same user JSON from memory: the HTTP limit. */
export async function startHttpLimitServer(workers: number): Promise<Child> {
  const port = await freePort();
  return startChild({
    name: `http-limit-server (${workers} process(es))`,
    command: process.execPath,
    args: ['--import', 'tsx', 'bench/http-limit-server.ts'],
    env: { PORT: String(port), WORKERS: String(workers) },
    port,
  });
}

/** The process and every process it forked (cluster workers), depth first. */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [pid];
  }
  return [pid, ...children.flatMap(processTree)];
}

/** Peak resident memory (VmHWM) of a process and of each process it forked, in MiB. */
export function peakRss(pid: number): { pid: number; peakMb: number }[] {
  const out: { pid: number; peakMb: number }[] = [];
  for (const p of processTree(pid)) {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      if (kb) out.push({ pid: p, peakMb: Math.round(Number(kb) / 102.4) / 10 });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

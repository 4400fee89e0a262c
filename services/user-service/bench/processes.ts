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
  /** Headers every benchmark request to this child carries (the credentials of a service; none otherwise). */
  headers: Record<string, string>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** A token-signing key for the benchmark's service processes (benchmark-only, random per run). */
export const BENCH_JWT_SECRET = process.env.JWT_SECRET ?? `bench-only-${randomBytes(24).toString('hex')}`;

/** Encrypts the signing keys at rest in the benchmark's databases (random per run, like every service shares). */
const BENCH_KEY_ENCRYPTION_SECRET = `bench-only-${randomBytes(24).toString('hex')}`;

/**
 * The superuser the benchmark signs in as: bootstrapped by the first service process on each fresh database
 * (FIRST_SUPERUSER_*), random password per run (not a common one, so the service accepts it).
 */
export const BENCH_SUPERUSER = {
  email: 'bench-admin@example.com',
  password: `bench-${randomBytes(18).toString('base64url')}`,
};

function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // already gone
  }
}

/** Stops this child too when the benchmark exits or is interrupted (a server the benchmark spawned itself). */
export function trackChild(proc: ChildProcess): void {
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
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
  /** Lines that are expected and not a problem (the AUTH_REQUIRED=false warning of an open service). */
  expected?: RegExp;
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
    if (spec.expected?.test(line)) return;
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
    headers: {},
    stop: async () => {
      killGroup(proc, 'SIGTERM');
      const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * How the service is reached. `bearer`: AUTH_REQUIRED=true (the default, what a deployment runs), and every
 * request carries the bench superuser's access token, obtained by logging in once when the process has started
 * (ACCESS_TOKEN_EXPIRE_MINUTES=120 outlasts any run). `open`: AUTH_REQUIRED=false, no credentials (the
 * predecessors' open API, as measured before issue 9).
 */
export type ServiceAccess = 'bearer' | 'open';

/** The service as `npm start` runs it (see service-build.ts), migrating its database on start, warnings only. */
export async function startService(
  databaseUrl: string,
  workers: number,
  access: ServiceAccess,
  /** `env`: extra variables (the scale-out bench's REDIS_URL, DATABASE_REPLICA_URLS...), named by `label`. */
  options: { metrics?: boolean; env?: Record<string, string>; label?: string } = {},
): Promise<Child> {
  const port = await freePort();
  const child = await startChild({
    name: `service (WORKERS=${workers}${access === 'open' ? ', AUTH_REQUIRED=false' : ''}${options.metrics ? ', metrics on' : ''}${options.label ? `, ${options.label}` : ''})`,
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
      AUTH_REQUIRED: String(access !== 'open'),
      FIRST_SUPERUSER_EMAIL: BENCH_SUPERUSER.email,
      FIRST_SUPERUSER_PASSWORD: BENCH_SUPERUSER.password,
      // As a deployment should run (signing keys encrypted at rest); also keeps the start-up warning out.
      KEY_ENCRYPTION_SECRET: BENCH_KEY_ENCRYPTION_SECRET,
      ACCESS_TOKEN_EXPIRE_MINUTES: '120',
      // The benchmark logs in from one IP: the per-IP limit of the auth endpoints must not refuse it.
      AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
      // Issue 10: metrics collected (on the API port behind this token); nobody scrapes during the run.
      ...(options.metrics ? { METRICS_TOKEN: `bench-metrics-${randomBytes(12).toString('hex')}` } : {}),
      ...options.env,
    },
    expected: access === 'open' ? /AUTH_REQUIRED=false/ : undefined,
    port,
    timeoutMs: 60_000,
  });
  if (access === 'bearer') {
    try {
      child.headers = { authorization: `Bearer ${await login(child.url)}` };
    } catch (error) {
      await child.stop();
      throw error;
    }
  }
  return child;
}

/** POST JSON to a benchmark child; throws with the answer unless it is the expected status. */
async function postJson(url: string, body: unknown, expected: number, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected)
    throw new Error(`POST ${url}: ${res.status} (expected ${expected}): ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Logs the bench superuser in: its access token. */
export async function login(baseUrl: string): Promise<string> {
  const body = { username: BENCH_SUPERUSER.email, password: BENCH_SUPERUSER.password };
  const token = (await postJson(`${baseUrl}/api/v1/auth/login`, body, 200)).access_token;
  if (typeof token !== 'string') throw new Error('login answered without an access_token');
  return token;
}

/** Creates an API key with the users scopes through a signed-in service: the `X-API-Key` header carrying it. */
export async function createApiKey(service: Child): Promise<Record<string, string>> {
  const body = { name: `bench-${randomBytes(3).toString('hex')}`, scopes: ['users:read', 'users:write'] };
  const secret = (await postJson(`${service.url}/api/v1/api-keys`, body, 201, service.headers)).secret;
  if (typeof secret !== 'string' || !secret.startsWith('usk_')) throw new Error('API key answer without its secret');
  // As `Authorization: Bearer usk_...`, the form the issue names first; X-API-Key costs the same lookup.
  return { authorization: `Bearer ${secret}` };
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

/**
 * Does POST /auth/forgot-password (and /auth/request-verify-token) take as long for an unknown address as for a
 * known one? Sends N requests of each over HTTP on loopback (as a client sees them), interleaved in random order, each known address asked once (so the per-address limit never shortens
 * the known path), and prints the median, p90 and mean of each. For comparison it also times the work the routes defer (lookup, token, mail, audit) when
 * awaited, which is what the answer would have cost had it waited.
 *
 *   node --import tsx bench/account-timing.ts [N=200]       (in services/user-service; SQLite and PostgreSQL)
 *
 * A measurement, not a test: nothing here fails on a number.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Migrator, openDatabase } from '@user-service/data';
import { createServerDatabase } from '@user-service/data/testing';
import { buildApp } from '../src/app.js';
import { AccountService } from '../src/auth/account.service.js';
import { PasswordHasher } from '../src/auth/password-hasher.js';
import { defaultAccess, loadConfig } from '../src/config.js';
import { Outbox } from '../src/mail/outbox.js';
import { MIGRATIONS_DIR } from '../src/runtime.js';
import { UserService } from '../src/users/user.service.js';
import { FAST_HASH, TEST_PASSWORD, TEST_TOKEN_SECRET } from '../test/support/test-app.js';

const N = Number(process.argv[2] ?? 200);

function stats(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  return `median ${at(0.5).toFixed(3)} ms  p90 ${at(0.9).toFixed(3)} ms  mean ${mean.toFixed(3)} ms`;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

type Which = 'known' | 'unknown';
interface Step {
  path: string;
  email: string;
  /** Wait this long after the answer before the next request. */
  pauseMs?: number;
}

/**
 * Sends the steps one after another from a worker thread and returns each answer's time in ms. The client runs
 * on an event loop of its own: in the server's, the server's deferred work would delay reading the answer.
 */
function client(base: string, steps: Step[]): Promise<number[]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const times = [];
      let ip = 0;
      for (const step of workerData.steps) {
        ip++;
        const start = process.hrtime.bigint();
        const res = await fetch(workerData.base + '/api/v1' + step.path, {
          method: 'POST',
          // X-Forwarded-For names the client: one address per request (the per-IP limit is not measured).
          headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.' + ((ip >> 16) & 255) + '.' + ((ip >> 8) & 255) + '.' + (ip & 255) },
          body: JSON.stringify({ email: step.email }),
        });
        const body = await res.text();
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
        if (res.status !== 202) throw new Error(step.path + ': ' + res.status + ' ' + body);
        if (step.pauseMs) await new Promise((resolve) => setTimeout(resolve, step.pauseMs));
      }
      parentPort.postMessage(times);
    })().catch((error) => parentPort.postMessage({ error: String(error) }));
  `;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { base, steps } });
    worker.once('message', (message: number[] | { error: string }) => {
      void worker.terminate();
      if (Array.isArray(message)) resolve(message);
      else reject(new Error(message.error));
    });
    worker.once('error', reject);
  });
}

async function users(service: UserService, count: number, tag: string): Promise<string[]> {
  const emails: string[] = [];
  for (let i = 0; i < count; i++) {
    const email = `timing-${tag}-${i}-${randomBytes(3).toString('hex')}@example.com`;
    await service.create({ email, password: TEST_PASSWORD });
    emails.push(email);
  }
  return emails;
}

async function measure(kind: 'sqlite' | 'postgres', url: string): Promise<void> {
  const database = await openDatabase(url);
  const migrator = await Migrator.fromDirectory(database, MIGRATIONS_DIR);
  await migrator.up();
  const hasher = new PasswordHasher(FAST_HASH);
  const app = await buildApp({
    database,
    migrator,
    hasher,
    tokenSecret: TEST_TOKEN_SECRET,
    // X-Forwarded-For names the client: a client address per request, since the per-IP limit is not measured.
    trustProxy: true,
    access: { ...defaultAccess(), authRateLimitPerMinute: 1_000_000 },
    // No SMTP_URL: mails are logged (the logger is off), the outbox and its sender still run.
    mail: { smtpUrl: undefined, pollMs: 100 },
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const service = new UserService(database, hasher);
  const shuffled = () =>
    [...Array(N).fill('known'), ...Array(N).fill('unknown')].sort(() => Math.random() - 0.5) as Which[];
  try {
    for (const path of ['/auth/forgot-password', '/auth/request-verify-token']) {
      const known = await users(service, N + 20, 'known');
      const unknown = Array.from({ length: N + 20 }, (_, i) => `none-${i}-${randomBytes(3).toString('hex')}@x.org`);
      // Warm-up (JIT, pools), then the measured requests, each after the previous one's deferred work is done.
      const warm: Step[] = known.splice(0, 20).flatMap((email, i) => [
        { path, email },
        { path, email: unknown[i] as string },
      ]);
      unknown.splice(0, 20);
      const order = shuffled();
      const steps = order.map((which) => ({
        path,
        email: (which === 'known' ? known : unknown).pop() as string,
        pauseMs: 5,
      }));
      const times = (await client(base, [...warm, ...steps])).slice(warm.length);
      console.log(`${kind} ${path} answer, known:   ${stats(times.filter((_, i) => order[i] === 'known'))}`);
      console.log(`${kind} ${path} answer, unknown: ${stats(times.filter((_, i) => order[i] === 'unknown'))}`);
    }

    // The indirect channel: the deferred work runs after the answer, in the same process, so it may slow the
    // request that comes right after. Probe with a known or an unknown address, then at once time an unknown one.
    const probes = await users(service, N, 'probe');
    const order = shuffled();
    const path = '/auth/forgot-password';
    const pairs = order.flatMap((which, i): Step[] => [
      { path, email: which === 'known' ? (probes.pop() as string) : `probe-none-${i}@x.org` },
      { path, email: `next-none-${i}@x.org`, pauseMs: 5 },
    ]);
    const next = (await client(base, pairs)).filter((_, i) => i % 2 === 1);
    console.log(
      `${kind} forgot-password, the next answer after a known:   ${stats(next.filter((_, i) => order[i] === 'known'))}`,
    );
    console.log(
      `${kind} forgot-password, the next answer after an unknown: ${stats(next.filter((_, i) => order[i] === 'unknown'))}`,
    );

    // The deferred work itself, awaited: what a known and an unknown address would have cost inline.
    const mail = { ...loadConfig({}).mail };
    const accounts = new AccountService(database, service, new Outbox(mail, database), {
      verifyTokenHours: 48,
      resetTokenMinutes: 30,
    });
    const send = (
      accounts as unknown as { send(kind: string, email: string, ctx: undefined): Promise<void> }
    ).send.bind(accounts);
    const known = await users(service, N, 'inline');
    const inline = { known: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < N; i++) {
      inline.known.push(await timed(() => send('reset', known[i] as string, undefined)));
      inline.unknown.push(await timed(() => send('reset', `inline-none-${i}@x.org`, undefined)));
    }
    console.log(`${kind} forgot-password work if awaited, known:   ${stats(inline.known)}`);
    console.log(`${kind} forgot-password work if awaited, unknown: ${stats(inline.unknown)}`);
  } finally {
    await app.close();
    await database.close();
  }
}

const dir = join(tmpdir(), `account-timing-${process.pid}`);
mkdirSync(dir, { recursive: true });
try {
  await measure('sqlite', `sqlite:///${join(dir, 'timing.db')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const pg = await createServerDatabase('postgres', { prefix: 'us_timing' });
try {
  await measure('postgres', pg.url);
} finally {
  await pg.drop();
}

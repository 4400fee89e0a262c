/**
 * Does POST /auth/forgot-password (and /auth/request-verify-token) take as long for an unknown address as for a
 * known one? Sends N requests of each, interleaved in random order, through app.inject (no network noise), each
 * known address asked once (so the per-address limit never shortens the known path), and prints the median,
 * p90 and mean of each. For comparison it also times the work the routes defer (lookup, token, mail, audit) when
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
import { createServerDatabase } from '@user-service/data/testing';
import { AccountService } from '../src/auth/account.service.js';
import { loadConfig } from '../src/config.js';
import { Outbox } from '../src/mail/outbox.js';
import { UserService } from '../src/users/user.service.js';
import { openTestApp, TEST_PASSWORD, type TestApp } from '../test/support/test-app.js';

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

async function users(t: TestApp, count: number, tag: string): Promise<string[]> {
  const service = new UserService(t.database, t.hasher);
  const emails: string[] = [];
  for (let i = 0; i < count; i++) {
    const email = `timing-${tag}-${i}-${randomBytes(3).toString('hex')}@example.com`;
    await service.create({ email, password: TEST_PASSWORD });
    emails.push(email);
  }
  return emails;
}

async function measure(kind: 'sqlite' | 'postgres', url: string): Promise<void> {
  const t = await openTestApp({ kind, url }, { defaultCredentials: false });
  let ip = 0;
  const post = (path: string, email: string) =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1${path}`,
      // A client address per request: the per-IP limit is not what is measured.
      remoteAddress: `10.${(++ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`,
      payload: { email },
    });
  try {
    for (const path of ['/auth/forgot-password', '/auth/request-verify-token']) {
      const known = await users(t, N + 20, 'known');
      const unknown = Array.from(
        { length: N + 20 },
        (_, i) => `timing-none-${i}-${randomBytes(3).toString('hex')}@x.org`,
      );
      // Warm-up: JIT, pools, prepared paths.
      for (let i = 0; i < 20; i++) {
        await post(path, known.pop() as string);
        await post(path, unknown.pop() as string);
      }
      const times = { known: [] as number[], unknown: [] as number[] };
      const order = [...Array(N).fill('known'), ...Array(N).fill('unknown')].sort(() => Math.random() - 0.5) as (
        | 'known'
        | 'unknown'
      )[];
      for (const which of order) {
        const email = (which === 'known' ? known : unknown).pop() as string;
        times[which].push(
          await timed(async () => {
            const res = await post(path, email);
            if (res.statusCode !== 202) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
          }),
        );
      }
      console.log(`${kind} ${path} answer, known:   ${stats(times.known)}`);
      console.log(`${kind} ${path} answer, unknown: ${stats(times.unknown)}`);
    }

    // The indirect channel: the deferred work runs after the answer, in the same process, so it may slow the
    // request that comes right after. Probe with a known or an unknown address, then time an unknown one at once.
    const probes = await users(t, N, 'probe');
    const after = { known: [] as number[], unknown: [] as number[] };
    const order = [...Array(N).fill('known'), ...Array(N).fill('unknown')].sort(() => Math.random() - 0.5) as (
      | 'known'
      | 'unknown'
    )[];
    let n = 0;
    for (const which of order) {
      await post('/auth/forgot-password', which === 'known' ? (probes.pop() as string) : `probe-none-${++n}@x.org`);
      after[which].push(await timed(() => post('/auth/forgot-password', `next-none-${++n}@x.org`)));
      // Let the queue drain before the next pair, so pairs do not overlap.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    console.log(`${kind} forgot-password, the next answer after a known:   ${stats(after.known)}`);
    console.log(`${kind} forgot-password, the next answer after an unknown: ${stats(after.unknown)}`);

    // The deferred work itself, awaited: what a known and an unknown address would have cost inline.
    const mail = { ...loadConfig({}).mail };
    const userService = new UserService(t.database, t.hasher);
    const accounts = new AccountService(t.database, userService, new Outbox(mail, t.database), {
      verifyTokenHours: 48,
      resetTokenMinutes: 30,
    });
    const send = (
      accounts as unknown as { send(kind: string, email: string, ctx: undefined): Promise<void> }
    ).send.bind(accounts);
    const known = await users(t, N, 'inline');
    const inline = { known: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < N; i++) {
      inline.known.push(await timed(() => send('reset', known[i] as string, undefined)));
      inline.unknown.push(await timed(() => send('reset', `inline-none-${i}@x.org`, undefined)));
    }
    console.log(`${kind} forgot-password work if awaited, known:   ${stats(inline.known)}`);
    console.log(`${kind} forgot-password work if awaited, unknown: ${stats(inline.unknown)}`);
  } finally {
    await t.close();
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

import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { DEFAULT_HASH_OPTIONS, PasswordHasher } from '../src/auth/password-hasher.js';
import { OverloadedError } from '../src/errors.js';
import { type PasswordHashMessage, passwordHashChannel } from '../src/observability/channels.js';
import { BCRYPT_2A, BCRYPT_2Y, PASSLIB_BCRYPT } from './support/legacy-hashes.js';

describe('password hasher', () => {
  it('hashes with argon2id at OWASP parameters by default, and verifies', async () => {
    assert.deepEqual(
      { m: DEFAULT_HASH_OPTIONS.memoryKib, t: DEFAULT_HASH_OPTIONS.iterations, p: DEFAULT_HASH_OPTIONS.parallelism },
      { m: 19_456, t: 2, p: 1 },
    );
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('correct horse battery');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.deepEqual(await hasher.verify('correct horse battery', hash), { ok: true });
    assert.deepEqual(await hasher.verify('wrong horse battery', hash), { ok: false });
  });

  it('never truncates: a password differing only after 72 bytes is a different password', async () => {
    const hasher = new PasswordHasher({ ...DEFAULT_HASH_OPTIONS, memoryKib: 1024, iterations: 1 });
    const long = 'a'.repeat(100);
    const hash = await hasher.hash(long);
    assert.equal((await hasher.verify(`${'a'.repeat(99)}b`, hash)).ok, false);
    assert.equal((await hasher.verify(long, hash)).ok, true);
  });

  it('verifies bcrypt $2b$, $2a$ and $2y$ hashes and offers an argon2id replacement', async () => {
    const hasher = new PasswordHasher({ ...DEFAULT_HASH_OPTIONS, memoryKib: 1024, iterations: 1 });
    for (const stored of [PASSLIB_BCRYPT, BCRYPT_2A, BCRYPT_2Y]) {
      const ok = await hasher.verify('secret-password-1', stored);
      assert.equal(ok.ok, true, stored);
      assert.match(ok.upgradedHash ?? '', /^\$argon2id\$/);
      assert.equal((await hasher.verify(ok.upgradedHash ?? '', ok.upgradedHash ?? '')).ok, false);
      assert.equal((await hasher.verify('secret-password-1', ok.upgradedHash ?? '')).ok, true);
      assert.deepEqual(await hasher.verify('secret-password-2', stored), { ok: false });
    }
    assert.deepEqual(await hasher.verify('x', 'not a hash'), { ok: false });
  });

  it('re-hashes argon2 hashes weaker than the configured policy', async () => {
    const weak = new PasswordHasher({ ...DEFAULT_HASH_OPTIONS, memoryKib: 1024, iterations: 1 });
    const strong = new PasswordHasher({ ...DEFAULT_HASH_OPTIONS, memoryKib: 2048, iterations: 2 });
    const old = await weak.hash('password-123');
    const result = await strong.verify('password-123', old);
    assert.equal(result.ok, true);
    assert.match(result.upgradedHash ?? '', /m=2048,t=2/);
    assert.equal(strong.isCurrent(result.upgradedHash ?? ''), true);
  });

  it('bounds concurrency: with a limit of 1, hashes run one at a time while the event loop stays free', async () => {
    const hasher = new PasswordHasher({ ...DEFAULT_HASH_OPTIONS, concurrency: 1 });
    // The hasher's own queue gauges, sampled every millisecond (no wall-clock comparison: a busy neighbour
    // process could stretch one hash and not another).
    let ticks = 0;
    let maxRunning = 0;
    let maxWaiting = 0;
    const sample = () => {
      const { running, waiting } = hasher.queue();
      maxRunning = Math.max(maxRunning, running);
      maxWaiting = Math.max(maxWaiting, waiting);
    };
    const timer = setInterval(() => {
      ticks++;
      sample();
    }, 1);
    // Each hash's own run (from the hasher's timing channel: when the native work ended and how long it took)
    // must not overlap another's: the limiter held the others back, not just its counters.
    const runs: [number, number][] = [];
    const onHash = (message: unknown) => {
      const end = performance.now();
      runs.push([end - (message as PasswordHashMessage).durationMs, end]);
    };
    subscribe(passwordHashChannel.name, onHash);
    const all = Promise.all(Array.from({ length: 4 }, (_, i) => hasher.hash(`password-${i}`)));
    await Promise.resolve();
    sample();
    const hashes = await all;
    clearInterval(timer);
    unsubscribe(passwordHashChannel.name, onHash);
    assert.equal(runs.length, 4);
    runs.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < runs.length; i++) {
      assert.ok(
        (runs[i]?.[0] ?? 0) >= (runs[i - 1]?.[1] ?? 0) - 1,
        `hash ${i} started before hash ${i - 1} ended: ${JSON.stringify(runs)}`,
      );
    }
    assert.equal(new Set(hashes).size, 4, 'four hashes came back');
    assert.equal(maxRunning, 1, 'never more than one hash running');
    assert.ok(maxWaiting >= 2, `the others waited their turn (at most ${maxWaiting} waiting)`);
    assert.ok(ticks > 5, 'timers kept firing while hashing: the work ran off the event loop');
  });

  it('refuses new hashes once the oldest waiting one has waited longer than queueMaxWaitMs, then recovers', async () => {
    // One at a time, 20 in line: the ones at the back wait for the others' 20 hashes (each > 5 ms of CPU).
    const hasher = new PasswordHasher({ ...DEFAULT_HASH_OPTIONS, concurrency: 1, queueMax: 1000, queueMaxWaitMs: 40 });
    const admitted = Array.from({ length: 20 }, (_, i) => hasher.hash(`queued-${i}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(hasher.queue().waiting > 0, 'hashes are still waiting after 100 ms');
    await assert.rejects(hasher.hash('one-more'), (e: unknown) => e instanceof OverloadedError);
    await assert.rejects(
      hasher.verify('one-more', (await admitted[0]) as string),
      (e: unknown) => e instanceof OverloadedError,
    );
    // Every hash admitted before is computed.
    for (const hash of await Promise.all(admitted)) assert.match(hash, /^\$argon2id\$/);
    assert.deepEqual(hasher.queue(), { waiting: 0, running: 0 });
    assert.match(await hasher.hash('after the queue drained'), /^\$argon2id\$/);
  });
});

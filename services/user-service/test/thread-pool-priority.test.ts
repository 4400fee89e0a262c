/**
 * The hashing threads' lower CPU priority (auth/thread-pool-priority.ts, PASSWORD_HASH_NICE): read back from the
 * kernel (/proc/self/task/<tid>/stat, field 19 is the nice value), on this process's own threads.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import { DEFAULT_HASH_OPTIONS, PasswordHasher } from '../src/auth/password-hasher.js';
import { threadPoolSize, threadPoolThreadIds } from '../src/auth/thread-pool-priority.js';
import { loadConfig } from '../src/config.js';

/** Every thread of this process with its nice value. */
function niceValues(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    // After the command name (in parentheses, may hold spaces): state is field 3, nice field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

const FAST = { ...DEFAULT_HASH_OPTIONS, memoryKib: 1024, iterations: 1 };
const linux = process.platform === 'linux';

describe('hashing threads at a lower CPU priority', {
  skip: linux ? false : 'per-thread nice values are Linux',
}, () => {
  it("finds libuv's pool threads: as many as the pool has, all of this process, none the main thread", async () => {
    const ids = await threadPoolThreadIds();
    const threads = niceValues();
    assert.equal(ids.length, threadPoolSize());
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) {
      assert.ok(threads.has(id), `thread ${id} is this process's`);
      assert.notEqual(id, process.pid);
    }
    assert.ok(threads.size > ids.length, 'the process has threads besides the pool (main, V8)');
  });

  it('reads the pool size as libuv does: atoi(UV_THREADPOOL_SIZE), 0 made 1, at most 1024, default 4', () => {
    assert.equal(threadPoolSize({}), 4);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '8' }), 8);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '8.5' }), 8);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'many' }), 1);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '0' }), 1);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024);
    // An unsigned int in libuv: -1 wraps past the bound.
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '-1' }), 1024);
  });

  // The values are relative to the event loop's own (the test may run under `nice`).
  const base = getPriority(0);

  it('with nice 0 a hasher leaves every thread as it is', async () => {
    const hasher = new PasswordHasher({ ...FAST, nice: 0 });
    assert.equal((await hasher.verify('pw-one', await hasher.hash('pw-one'))).ok, true);
    assert.deepEqual([...new Set(niceValues().values())], [base]);
  });

  it("a hasher's first verification lowers the pool's threads, and only them, nice steps below the event loop", async () => {
    const stored = await new PasswordHasher({ ...FAST, nice: 0 }).hash('pw-two');
    const pool = new Set(await threadPoolThreadIds());
    const hasher = new PasswordHasher({ ...FAST, nice: 3 });
    assert.equal((await hasher.verify('pw-two', stored)).ok, true);
    for (const [tid, nice] of niceValues()) {
      assert.equal(
        nice,
        pool.has(tid) ? Math.min(19, base + 3) : base,
        `thread ${tid}${tid === process.pid ? ' (main)' : ''}`,
      );
    }
  });

  it("the configured default (PASSWORD_HASH_NICE 10) takes the pool further down on a hasher's first hash, never back up", async () => {
    const pool = new Set(await threadPoolThreadIds());
    const hasher = new PasswordHasher({ ...loadConfig({}).passwordHash, memoryKib: 1024, iterations: 1 });
    const hash = await hasher.hash('pw-three');
    for (const [tid, nice] of niceValues()) {
      assert.equal(nice, pool.has(tid) ? Math.min(19, base + 10) : base, `thread ${tid}`);
    }
    assert.equal((await hasher.verify('pw-three', hash)).ok, true);
    // A smaller value later does not raise the pool again.
    await new PasswordHasher({ ...FAST, nice: 2 }).hash('pw-four');
    for (const tid of pool) assert.equal(niceValues().get(tid), Math.min(19, base + 10));
  });
});

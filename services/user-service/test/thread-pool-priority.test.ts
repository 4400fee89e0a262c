/**
 * The hashing threads' lower CPU priority (auth/thread-pool-priority.ts, PASSWORD_HASH_NICE): read back from the
 * kernel (/proc/self/task/<tid>/stat, field 19 is the nice value), on this process's own threads.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_HASH_OPTIONS, PasswordHasher } from '../src/auth/password-hasher.js';
import { threadPoolSize, threadPoolThreadIds } from '../src/auth/thread-pool-priority.js';

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

  it('reads the pool size as libuv does: UV_THREADPOOL_SIZE, default 4, at most 1024', () => {
    assert.equal(threadPoolSize({}), 4);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '8' }), 8);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'many' }), 4);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '0' }), 4);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024);
  });

  it('with nice 0 a hasher leaves every thread as it is', async () => {
    const hasher = new PasswordHasher({ ...FAST, nice: 0 });
    assert.equal((await hasher.verify('pw-one', await hasher.hash('pw-one'))).ok, true);
    assert.deepEqual([...new Set(niceValues().values())], [0]);
  });

  it("a hasher's first hash lowers the pool's threads, and only them, to its nice value; hashing still works", async () => {
    const pool = new Set(await threadPoolThreadIds());
    const hasher = new PasswordHasher({ ...FAST, nice: 7 });
    const hash = await hasher.hash('pw-two');
    for (const [tid, nice] of niceValues()) {
      assert.equal(nice, pool.has(tid) ? 7 : 0, `thread ${tid}${tid === process.pid ? ' (main)' : ''}`);
    }
    assert.equal((await hasher.verify('pw-two', hash)).ok, true);
    assert.equal((await hasher.verify('pw-three', hash)).ok, false);
  });
});

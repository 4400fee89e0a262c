/**
 * Lowers the CPU priority of libuv's thread pool, where argon2id and bcrypt run (PasswordHasher), below the event
 * loop's. A hash is ~20 ms of CPU, a read ~0.2 ms: with the pool at the same priority, a burst of sign-ups or
 * logins on a 2-core machine shares the cores fairly between hashing threads and the event loops, and every read
 * waits behind hash time slices. At nice 10 the kernel gives the event loop (weight 1024) the core first against
 * a hashing thread (weight 110), so reads keep their latency; with nothing else to run, hashing still gets every
 * idle cycle, so a create or login alone is not slower. Measured on issue 13's bench (get-by-id beside 16
 * creating connections, 2 cores): see docs/PERFORMANCE.md.
 *
 * Linux keeps the nice value per thread, and setpriority(PRIO_PROCESS, tid) changes one thread (os.setPriority).
 * libuv names no thread before 1.50 (Node 20 ships 1.46), so the pool's threads are found by having them open
 * /proc/thread-self/stat: an fs open runs on a pool thread, and /proc/thread-self resolves to the thread that
 * opens it, whose stat begins with its id. Opens are queued until every thread has answered (the pool's size is
 * UV_THREADPOOL_SIZE, default 4) or a few rounds have passed; whatever was found is reniced. Raising one's own
 * nice value needs no privilege. Elsewhere than Linux this does nothing.
 */
import { readFile } from 'node:fs/promises';
import { setPriority } from 'node:os';

/** libuv's default pool size and its bound (MAX_THREADPOOL_SIZE). */
const DEFAULT_POOL = 4;
const MAX_POOL = 1024;
/** Rounds of concurrent opens before giving up on finding every thread. */
const ROUNDS = 20;
/** Opens in flight at once: a few per thread, but never enough to run the process short of file descriptors. */
const MAX_OPENS = 64;

export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(size) && size > 0 ? Math.min(size, MAX_POOL) : DEFAULT_POOL;
}

/** The ids of libuv's pool threads in this process (Linux), as many as could be found. */
export async function threadPoolThreadIds(size = threadPoolSize()): Promise<number[]> {
  const found = new Set<number>();
  for (let round = 0; round < ROUNDS && found.size < size; round++) {
    // More opens than threads (up to MAX_OPENS), all queued at once: each idle thread wakes and takes some.
    const stats = await Promise.all(
      Array.from({ length: Math.min(size * 4, MAX_OPENS) }, () =>
        readFile('/proc/thread-self/stat', 'latin1').catch(() => ''),
      ),
    );
    for (const stat of stats) {
      const tid = Number.parseInt(stat, 10);
      if (tid > 0 && tid !== process.pid) found.add(tid);
    }
  }
  return [...found];
}

/** Sets the pool's threads to `nice` (1-19); resolves to how many it changed (0 off Linux or with nice 0). */
export async function lowerThreadPoolPriority(nice: number): Promise<number> {
  if (process.platform !== 'linux' || nice <= 0) return 0;
  let changed = 0;
  for (const tid of await threadPoolThreadIds()) {
    try {
      setPriority(tid, nice);
      changed++;
    } catch {
      // A thread that is gone or refused (a sandbox without setpriority): hashing keeps the default priority.
    }
  }
  return changed;
}

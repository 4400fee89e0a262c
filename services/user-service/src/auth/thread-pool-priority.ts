/**
 * Lowers the CPU priority of libuv's thread pool, where argon2id and bcrypt run (PasswordHasher), below the event
 * loop's. A hash is ~20 ms of CPU, a read ~0.2 ms: with the pool at the same priority, a burst of sign-ups or
 * logins on a 2-core machine shares the cores fairly between hashing threads and the event loops, and every read
 * waits behind hash time slices. At nice +10 the kernel gives the event loop (weight 1024) the core first against
 * a hashing thread (weight 110), so reads keep their latency; with nothing else to run, hashing still gets every
 * idle cycle, so a create or login alone is not slower. Measured on issue 13's bench (get-by-id beside 16
 * creating connections, 2 cores): see docs/PERFORMANCE.md. The rest of the pool's work (file reads of the static
 * pages, dns.lookup) runs at that priority too.
 *
 * Linux keeps the nice value per thread, and setpriority(PRIO_PROCESS, tid) changes one thread (os.setPriority).
 * libuv names its threads only from 1.50 on (`libuv-worker`; Node 20 ships 1.46), so the pool's threads are found
 * by having them open /proc/thread-self/stat: an fs open runs on a pool thread, and /proc/thread-self resolves to
 * the thread that opens it, whose stat begins with its id. Opens are queued until every thread has answered (the
 * pool's size is UV_THREADPOOL_SIZE, read as libuv reads it) or a few rounds have passed; whatever was found is
 * reniced. The value is relative: the pool goes `nice` steps below the event loop's own priority (a service
 * started under `nice 5` gets its pool at 15), and never up. Raising one's own nice value needs no privilege.
 * Elsewhere than Linux this does nothing, and so it does where /proc is not this process's (another PID
 * namespace's ids could name another process's threads).
 */
import { readFile } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';

/** libuv's default pool size and its bound (MAX_THREADPOOL_SIZE). */
const DEFAULT_POOL = 4;
const MAX_POOL = 1024;
/** The lowest priority Linux has. */
const MAX_NICE = 19;
/** Rounds of concurrent opens before giving up on finding every thread. */
const ROUNDS = 20;
/** Opens in flight at once: a few per thread, but never enough to run the process short of file descriptors. */
const MAX_OPENS = 64;

/**
 * The pool's size as libuv computes it: atoi(UV_THREADPOOL_SIZE) into an unsigned int, 0 made 1, capped at 1024
 * (so "8.5" is 8, "many" is 1, and "-1" wraps to the cap); 4 without the variable.
 */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.UV_THREADPOOL_SIZE;
  if (raw === undefined) return DEFAULT_POOL;
  const n = Number.parseInt(raw.trim(), 10);
  if (Number.isNaN(n) || n === 0) return 1;
  return n < 0 ? MAX_POOL : Math.min(n, MAX_POOL);
}

/** A thread's name (its `comm`), or '' when it cannot be read. */
async function threadName(tid: number): Promise<string> {
  return (await readFile(`/proc/self/task/${tid}/comm`, 'latin1').catch(() => '')).trim();
}

/** The ids of libuv's pool threads in this process (Linux), as many as could be found. */
export async function threadPoolThreadIds(size = threadPoolSize()): Promise<number[]> {
  // /proc/self must be this process: else the ids read through /proc/thread-self are another namespace's.
  const self = Number.parseInt(await readFile('/proc/self/stat', 'latin1').catch(() => ''), 10);
  if (self !== process.pid) return [];
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
  // With io_uring (UV_USE_IO_URING=1) an open may run on one of the kernel's io workers instead: not the pool.
  const names = await Promise.all([...found].map(async (tid) => [tid, await threadName(tid)] as const));
  return names.filter(([, name]) => name !== '' && !name.startsWith('iou-')).map(([tid]) => tid);
}

/**
 * Sets the pool's threads `nice` steps below the calling thread's priority (at most to 19); resolves to how many it
 * changed (0 off Linux, with nice 0, or when the event loop already runs at the lowest priority).
 */
export async function lowerThreadPoolPriority(nice: number): Promise<number> {
  if (process.platform !== 'linux' || nice <= 0) return 0;
  // getPriority(0): the calling thread's own nice value (Linux keeps one per thread).
  const target = Math.min(MAX_NICE, getPriority(0) + nice);
  let changed = 0;
  for (const tid of await threadPoolThreadIds()) {
    try {
      if (getPriority(tid) >= target) continue;
      setPriority(tid, target);
      changed++;
    } catch {
      // A thread that is gone or refused (a sandbox without setpriority): hashing keeps its priority.
    }
  }
  return changed;
}

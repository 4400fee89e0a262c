import { availableParallelism } from 'node:os';
import { type Algorithm, hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import pLimit, { type LimitFunction } from 'p-limit';
import { OverloadedError } from '../errors.js';
import { passwordHashObserved, publishPasswordHash } from '../observability/channels.js';
import { lowerThreadPoolPriority } from './thread-pool-priority.js';

export interface PasswordHashOptions {
  /** Argon2id memory in KiB (OWASP minimum: 19456 = 19 MiB). */
  memoryKib: number;
  /** Argon2id passes (OWASP minimum with 19 MiB: 2). */
  iterations: number;
  parallelism: number;
  /** Hashes computed at once; more wait their turn so a sign-up burst cannot take every thread. */
  concurrency: number;
  /**
   * Hashes allowed to wait for a turn (PASSWORD_HASH_QUEUE_MAX); one more is refused at once with
   * OverloadedError (503 + Retry-After) instead of waiting behind a queue that only grows under a login flood.
   */
  queueMax?: number;
  /**
   * How long the oldest waiting hash may have waited before new work is refused the same way
   * (PASSWORD_HASH_QUEUE_MAX_WAIT_MS; default 5000): the queue's length alone does not bound the wait when the
   * hashing threads get little CPU (they yield to the event loops, see `nice`).
   */
  queueMaxWaitMs?: number;
  /**
   * Steps (1-19) by which libuv's thread pool, where hashes run, goes below the event loop's CPU priority
   * (thread-pool-priority.ts): the event loop then gets the cores first, and reads keep their latency during a
   * burst of sign-ups or logins. 0: left as it is.
   */
  nice?: number;
}

export const DEFAULT_HASH_OPTIONS: PasswordHashOptions = {
  memoryKib: 19_456,
  iterations: 2,
  parallelism: 1,
  concurrency: availableParallelism(),
  queueMax: 256,
  queueMaxWaitMs: 5_000,
};

// Algorithm is an ambient const enum (not importable as a value under verbatimModuleSyntax); 2 is Argon2id.
const ARGON2ID_ALGORITHM = 2 as Algorithm;

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const ARGON2ID = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;

export interface VerifyResult {
  ok: boolean;
  /** Set when the password was right but its hash is weaker than today's policy: store this instead. */
  upgradedHash?: string;
}

/**
 * Hashes new passwords with argon2id and verifies argon2id and bcrypt ($2a$/$2b$/$2y$, as passlib and node
 * bcrypt write them), so a users table imported from the Python services keeps working. Both libraries run
 * the work on libuv's thread pool, off the event loop.
 */
export class PasswordHasher {
  /** At most `concurrency` hashes run at once; the rest queue in arrival order. */
  private readonly limit: LimitFunction;
  /** The pool's priority, lowered once, before the first hash or verification (see PasswordHashOptions.nice). */
  private prioritised: Promise<unknown> | undefined;
  /** When each hash still waiting for a turn was admitted, oldest first (p-limit starts them in that order). */
  private readonly waitingSince: number[] = [];

  constructor(private readonly options: PasswordHashOptions = DEFAULT_HASH_OPTIONS) {
    this.limit = pLimit(Math.max(1, options.concurrency));
  }

  async hash(password: string): Promise<string> {
    this.admit();
    return this.computeHash(password);
  }

  /**
   * Refuses new work while the queue is full or its oldest hash has waited too long (the hashes already admitted
   * finish, upgrades included).
   */
  private admit(): void {
    const max = this.options.queueMax ?? Number.POSITIVE_INFINITY;
    const oldest = this.waitingSince[0];
    const maxWait = this.options.queueMaxWaitMs ?? Number.POSITIVE_INFINITY;
    if (this.limit.pendingCount >= max || (oldest !== undefined && performance.now() - oldest > maxWait)) {
      throw new OverloadedError('Too many sign-ins in progress; retry after the Retry-After delay');
    }
  }

  /** `work` on the pool when its turn comes, its admission time kept until then (see admit). */
  private queued<T>(operation: 'hash' | 'verify', work: () => Promise<T>): Promise<T> {
    this.waitingSince.push(performance.now());
    return this.limit(() => {
      this.waitingSince.shift();
      return this.runOnPool(operation, work);
    });
  }

  private computeHash(password: string): Promise<string> {
    return this.queued('hash', () =>
      argonHash(password, {
        algorithm: ARGON2ID_ALGORITHM,
        memoryCost: this.options.memoryKib,
        timeCost: this.options.iterations,
        parallelism: this.options.parallelism,
      }),
    );
  }

  async verify(password: string, stored: string): Promise<VerifyResult> {
    this.admit();
    if (BCRYPT.test(stored)) {
      const ok = await this.queued('verify', () => bcryptVerify(password, stored)).catch(() => false);
      return ok ? { ok, upgradedHash: await this.computeHash(password) } : { ok };
    }
    if (!stored.startsWith('$argon2')) return { ok: false };
    const ok = await this.queued('verify', () => argonVerify(stored, password)).catch(() => false);
    if (!ok) return { ok };
    return this.isCurrent(stored) ? { ok } : { ok, upgradedHash: await this.computeHash(password) };
  }

  /** `work` on libuv's thread pool, once its priority is lowered (the first call waits ~1 ms for that). */
  private async runOnPool<T>(operation: 'hash' | 'verify', work: () => Promise<T>): Promise<T> {
    this.prioritised ??= lowerThreadPoolPriority(this.options.nice ?? 0).catch(() => 0);
    await this.prioritised;
    return timed(operation, work);
  }

  /** Hashes waiting for a turn and hashes running now (the metrics' queue gauges). */
  queue(): { waiting: number; running: number } {
    return { waiting: this.limit.pendingCount, running: this.limit.activeCount };
  }

  /** Whether a stored hash already meets the configured policy. */
  isCurrent(stored: string): boolean {
    const m = ARGON2ID.exec(stored);
    return (
      m !== null &&
      Number(m[1]) >= this.options.memoryKib &&
      Number(m[2]) >= this.options.iterations &&
      Number(m[3]) >= this.options.parallelism
    );
  }
}

/** Runs one hash or verification, reporting its duration (queueing excluded) when someone observes them. */
async function timed<T>(operation: 'hash' | 'verify', work: () => Promise<T>): Promise<T> {
  if (!passwordHashObserved()) return work();
  const started = performance.now();
  try {
    return await work();
  } finally {
    publishPasswordHash(operation, performance.now() - started);
  }
}

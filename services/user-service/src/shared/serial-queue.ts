/**
 * Work a request sets in motion but does not wait for, run one job at a time in arrival order. One at a time
 * bounds what a flood can take (a single database connection at most) and keeps the order the requests came
 * in; `maxPending` bounds the memory: past it `push` refuses and the caller answers "busy".
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** `onError` gets what a job threw (a job's failure never stops the ones after it). */
  constructor(
    private readonly maxPending: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues `job` to run after every job queued before it; false, and nothing queued, when the queue is full. */
  push(job: () => Promise<unknown>): boolean {
    if (this.pending >= this.maxPending) return false;
    this.pending++;
    this.tail = this.tail
      // Not before the current turn of the event loop is over: the request that queued the job answers first
      // (on SQLite a query runs on the event loop, and would otherwise delay that answer by the job's work).
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => job())
      .then(
        () => undefined,
        (error: unknown) => {
          // A throwing logger must not reject the chain: every later job would then be skipped.
          try {
            this.onError(error);
          } catch {}
        },
      )
      .finally(() => {
        this.pending--;
      });
    return true;
  }

  /** Resolves once every job queued so far has run (at shutdown, before the database closes). */
  settled(): Promise<void> {
    return this.tail;
  }
}

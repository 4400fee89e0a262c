import { sleep } from './processes.js';

/** What one request of the load got, with times from performance.now(). */
export interface Outcome {
  client: number;
  start: number;
  end: number;
  /** The HTTP status, or 0 when no answer came (socket error, client-side timeout). */
  status: number;
  error?: string;
  retryAfter?: string | null;
  /** The created user's id and email: the ledger of acknowledged writes. */
  id?: string;
  email: string;
  body?: string;
}

/**
 * A bounded write load: `clients` loops, each creating users one after the other (POST /api/v1/auth/register) until
 * stopped, recording every outcome. After a 503 a client pauses briefly, as a client honouring Retry-After
 * would, without waiting the full 5 s (the test wants to see the recovery as soon as it happens).
 */
export class WriteLoad {
  readonly outcomes: Outcome[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly base: string,
    private readonly clients: number,
    /** A request without an answer after this long is recorded as a hang. */
    private readonly giveUpMs: number,
  ) {}

  start(): void {
    this.running = true;
    for (let c = 0; c < this.clients; c++) this.loops.push(this.loop(c));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(client: number): Promise<void> {
    for (let seq = 0; this.running; seq++) {
      const email = `load-${client}-${seq}-${process.pid}@example.com`;
      const start = performance.now();
      const outcome: Outcome = { client, start, end: start, status: 0, email };
      try {
        // Registration: the public way to create a user, the same write path as POST /users.
        const res = await fetch(`${this.base}/api/v1/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: 'load-password-1', full_name: `Load ${client} ${seq}` }),
          signal: AbortSignal.timeout(this.giveUpMs),
        });
        const text = await res.text();
        outcome.status = res.status;
        outcome.retryAfter = res.headers.get('retry-after');
        if (res.status === 201) outcome.id = (JSON.parse(text) as { id: string }).id;
        else outcome.body = text.slice(0, 300);
      } catch (error) {
        const cause = (error as Error & { cause?: Error }).cause;
        outcome.error = `${(error as Error).name}: ${(error as Error).message}${cause ? ` (${cause.message})` : ''}`;
      }
      outcome.end = performance.now();
      this.outcomes.push(outcome);
      if (outcome.status !== 201) await sleep(100);
    }
  }
}

export const duration = (o: Outcome) => o.end - o.start;

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

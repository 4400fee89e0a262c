/**
 * Runs measurements in rounds, alternating their order (forward, then backward) so that a noisy neighbour or a
 * warming cache does not always favour the same side; each workload sits next to its limits in every round.
 */
import type { LoadResult } from './load.js';

/** A measurement; some (create with concurrent reads) yield several named results at once. */
export type Measure = () => Promise<LoadResult | Record<string, LoadResult>>;

export type Log = (message: string) => void;

const isLoadResult = (r: LoadResult | Record<string, LoadResult>): r is LoadResult => typeof r.rps === 'number';

const describe = (r: LoadResult) =>
  `${Math.round(r.rps)}/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} ms${r.non2xx || r.errors ? ` (${r.non2xx} non-2xx ${JSON.stringify(r.statuses)}, ${r.errors} errors)` : ''}`;

export async function runRounds(
  groups: string[][],
  measures: Record<string, Measure>,
  rounds: number,
  log: Log,
  /** Waits until the services have finished the requests a measurement left in flight. */
  settle: () => Promise<void> = async () => {},
): Promise<Map<string, LoadResult[]>> {
  const results = new Map<string, LoadResult[]>();
  const push = (key: string, r: LoadResult) => results.set(key, [...(results.get(key) ?? []), r]);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? groups.flat() : groups.flat().reverse();
    for (const key of order) {
      const measure = measures[key];
      if (!measure) continue;
      const out = await measure();
      if (isLoadResult(out)) {
        push(key, out);
        log(`round ${round + 1}/${rounds} ${key}: ${describe(out)}`);
      } else {
        for (const [part, r] of Object.entries(out)) {
          push(`${key}/${part}`, r);
          log(`round ${round + 1}/${rounds} ${key}/${part}: ${describe(r)}`);
        }
      }
      // A slow workload (search on a large SQLite table) leaves requests running after the load generator stops;
      // the next measurement must not start behind them.
      await settle();
    }
  }
  return results;
}

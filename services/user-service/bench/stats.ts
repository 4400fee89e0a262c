/** Small statistics helpers for the benchmark. */

/** The p-th percentile (0-100) of values already sorted ascending (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 ? (finite[mid] as number) : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/** Rounds to a number of significant digits (keeps reports readable without losing small latencies). */
export function sig(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const exponent = digits - 1 - Math.floor(Math.log10(Math.abs(value)));
  if (exponent >= 0) return Math.round(value * 10 ** exponent) / 10 ** exponent;
  return Math.round(value / 10 ** -exponent) * 10 ** -exponent;
}

/** The throughput two stages in series can reach: 1 / (1/a + 1/b). */
export const combined = (a: number, b: number) => 1 / (1 / a + 1 / b);

/** Reading Prometheus' text format in tests (the metrics, cache and two-instance suites). */

/** `name{labels}` -> value (comments skipped). */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** The samples named `name` whose labels include all of `labels`, as [key, value] pairs. */
export function matching(
  samples: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): [string, number][] {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const out: [string, number][] = [];
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    if (wanted.every((pair) => key.includes(pair))) out.push([key, value]);
  }
  return out;
}

/** The sum of the samples named `name` whose labels include all of `labels` (0 when there is none). */
export function total(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  return matching(samples, name, labels).reduce((sum, [, value]) => sum + value, 0);
}

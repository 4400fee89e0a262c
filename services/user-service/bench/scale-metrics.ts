/**
 * Counters read from the service's own /metrics, e.g. the Redis user cache's (METRICS_TOKEN as a bearer token; with
 * WORKERS > 1 the service answers with the sum over its workers): what the cache did, as the service counts it.
 */
import type { CacheCounts } from './scale-results.js';

export type CacheSnapshot = Record<string, CacheCounts>;

const LINE = /^user_cache_lookups_total\{([^}]*)\}\s+([0-9.eE+-]+)/;

async function scrape(url: string, token: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: ${res.status}: ${text.slice(0, 200)}`);
  return text;
}

/** The sum of every series of one counter (all label values), over the given service instances. */
export async function counterSum(urls: string[], token: string, name: string): Promise<number> {
  let sum = 0;
  for (const url of urls)
    for (const line of (await scrape(url, token)).split('\n'))
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(/\s+/).at(-1));
  return sum;
}

/** user_cache_lookups_total by kind and result, summed over the given service instances. */
export async function cacheCounters(urls: string[], token: string): Promise<CacheSnapshot> {
  const out: CacheSnapshot = {};
  for (const url of urls) {
    const text = await scrape(url, token);
    for (const line of text.split('\n')) {
      const m = LINE.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      const kind = labels.kind ?? '?';
      const result = labels.result as keyof CacheCounts | undefined;
      if (result !== 'hit' && result !== 'miss' && result !== 'bypass') continue;
      out[kind] ??= { hit: 0, miss: 0, bypass: 0 };
      out[kind][result] += Number(m[2]);
    }
  }
  return out;
}

/** after - before, added into `into`. */
export function addDelta(into: CacheSnapshot, before: CacheSnapshot, after: CacheSnapshot): void {
  for (const [kind, a] of Object.entries(after)) {
    const b = before[kind] ?? { hit: 0, miss: 0, bypass: 0 };
    into[kind] ??= { hit: 0, miss: 0, bypass: 0 };
    into[kind].hit += a.hit - b.hit;
    into[kind].miss += a.miss - b.miss;
    into[kind].bypass += a.bypass - b.bypass;
  }
}

export function hitRatio(c: CacheCounts | undefined): number {
  if (!c || c.hit + c.miss + c.bypass === 0) return Number.NaN;
  return c.hit / (c.hit + c.miss + c.bypass);
}

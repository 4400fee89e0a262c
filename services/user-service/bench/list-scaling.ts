/**
 * List latency against table size: one request at a time (no queueing, so the numbers are the database and
 * service work alone), with sub-millisecond timing, for offset pages near the start and the end of the table,
 * cursor pages near its start and its end, and search: for common name pieces (thousands of matches, the page
 * fills at once) and for a rare term (one match: the whole table is looked through unless an index serves it).
 */
import { Agent, request } from 'node:http';
import { pickFrom, type Sample } from './sample.js';
import { percentile } from './stats.js';
import { deepSkip, shallowSkip } from './workloads.js';

export const SCALING_CASES = [
  'offset-shallow',
  'offset-deep',
  'cursor-start',
  'cursor-end',
  'search',
  'search-rare',
] as const;
export type ScalingCase = (typeof SCALING_CASES)[number];

export interface LatencyStat {
  p50: number;
  p99: number;
  count: number;
  failures: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function paths(sample: Sample): Record<ScalingCase, () => string> {
  const list = '/api/v1/users?limit=20';
  return {
    'offset-shallow': () => `${list}&skip=${shallowSkip()}`,
    'offset-deep': () => `${list}&skip=${deepSkip(sample.total)}`,
    'cursor-start': () => `${list}&after=${pickFrom(sample.cursorsStart)}`,
    'cursor-end': () => `${list}&after=${pickFrom(sample.cursorsEnd)}`,
    search: () => `/api/v1/users/search?q=${pickFrom(sample.searchTerms)}&limit=20`,
    'search-rare': () => `/api/v1/users/search?q=${encodeURIComponent(pickFrom(sample.rareTerms))}&limit=20`,
  };
}

async function timeCase(
  baseUrl: string,
  next: () => string,
  maxSeconds: number,
  headers: Record<string, string>,
): Promise<LatencyStat> {
  // Any answer but 200 stops the benchmark: the latency would be of the wrong work (a 401 is fast).
  const ok = async (path: string) => {
    const status = await get(baseUrl + path, headers);
    if (status !== 200) throw new Error(`list latency: GET ${path} answered ${status}; every answer must be 200`);
  };
  // Warm-up: 10 requests, or 2 s of them for a case that takes seconds (a scan of 1M rows on MariaDB).
  const warmUntil = performance.now() + 2000;
  for (let i = 0; i < 10 && (i < 2 || performance.now() < warmUntil); i++) await ok(next());
  const latencies: number[] = [];
  const failures = 0;
  const until = performance.now() + maxSeconds * 1000;
  while (latencies.length < 400 && (performance.now() < until || latencies.length < 10)) {
    const t = performance.now();
    await ok(next());
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length, failures };
}

export async function measureListLatency(
  baseUrl: string,
  sample: Sample,
  maxSeconds: number,
  /** The service's credentials (a bearer token unless it runs with AUTH_REQUIRED=false). */
  headers: Record<string, string>,
): Promise<Record<ScalingCase, LatencyStat>> {
  const next = paths(sample);
  const out = {} as Record<ScalingCase, LatencyStat>;
  for (const c of SCALING_CASES) out[c] = await timeCase(baseUrl, next[c], maxSeconds, headers);
  return out;
}

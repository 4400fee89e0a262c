/**
 * List latency against table size: one request at a time (no queueing, so the numbers are the database and
 * service work alone), with sub-millisecond timing, for offset pages near the start and the end of the table,
 * cursor pages near its start and its end, and search.
 */
import { Agent, request } from 'node:http';
import { pickFrom, type Sample } from './sample.js';
import { percentile } from './stats.js';
import { deepSkip, shallowSkip } from './workloads.js';

export const SCALING_CASES = ['offset-shallow', 'offset-deep', 'cursor-start', 'cursor-end', 'search'] as const;
export type ScalingCase = (typeof SCALING_CASES)[number];

export interface LatencyStat {
  p50: number;
  p99: number;
  count: number;
  failures: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
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
  };
}

async function timeCase(baseUrl: string, next: () => string, maxSeconds: number): Promise<LatencyStat> {
  for (let i = 0; i < 10; i++) await get(baseUrl + next()); // warm-up
  const latencies: number[] = [];
  let failures = 0;
  const until = performance.now() + maxSeconds * 1000;
  while (latencies.length < 400 && (performance.now() < until || latencies.length < 20)) {
    const t = performance.now();
    const status = await get(baseUrl + next());
    if (status === 200) latencies.push(performance.now() - t);
    else if (++failures > 20) break;
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length, failures };
}

export async function measureListLatency(
  baseUrl: string,
  sample: Sample,
  maxSeconds: number,
): Promise<Record<ScalingCase, LatencyStat>> {
  const next = paths(sample);
  const out = {} as Record<ScalingCase, LatencyStat>;
  for (const c of SCALING_CASES) out[c] = await timeCase(baseUrl, next[c], maxSeconds);
  return out;
}

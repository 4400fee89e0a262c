/** Drives an HTTP server with autocannon (in this process) and reduces its result to what the report needs. */
import autocannon from 'autocannon';
import { percentile } from './stats.js';

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: string;
}

/** A workload: the next request to send, chosen afresh for every request (random ids, unique emails...). */
export type NextRequest = () => RequestSpec;

export interface LoadResult {
  /** Successful (2xx) responses per second. */
  rps: number;
  /** Latency percentiles in ms, from every response's own timing (autocannon's histogram rounds to 1 ms). */
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** Status codes other than 2xx, with their counts. */
  statuses: Record<string, number>;
}

export interface LoadOptions {
  /** Several URLs (service instances): autocannon spreads the connections over them evenly. */
  url: string | string[];
  next: NextRequest;
  connections: number;
  duration: number;
  /** Sent with every request (credentials). */
  headers?: Record<string, string>;
}

/** A load that got anything but 2xx answers, or connection errors: the figures would be of the wrong work. */
export class LoadFailure extends Error {}

/** Throws (loudly, with the status codes) unless every answer of the load was 2xx and no request failed. */
export function assertAll2xx(what: string, r: LoadResult): LoadResult {
  if (r.non2xx > 0 || r.errors > 0) {
    throw new LoadFailure(
      `${what}: ${r.non2xx} non-2xx answers ${JSON.stringify(r.statuses)} and ${r.errors} errors out of ${r.requests} requests; every answer must be 2xx`,
    );
  }
  return r;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const record = (ms: number) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = ms;
  };
  const opts: autocannon.Options = {
    // autocannon takes an array of URLs (its types say string only).
    url: options.url as string,
    connections: options.connections,
    duration: options.duration,
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const next = options.next();
          return {
            ...request,
            method: next.method,
            path: next.path,
            headers: {
              ...request.headers,
              ...options.headers,
              ...(next.body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            ...(next.body !== undefined ? { body: next.body } : {}),
          };
        },
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(opts, (error, r) => (error ? reject(error) : resolve(r)));
    instance.on('response', (_client, _status, _bytes, responseTime) => record(responseTime));
  });
  const sorted = latencies.subarray(0, count).sort();
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    if (!code.startsWith('2')) statuses[code] = stat.count ?? 0;
  }
  const ok = result['2xx'];
  return {
    rps: ok / Math.max(result.duration, 0.001),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    requests: ok + result.non2xx,
    non2xx: result.non2xx,
    errors: result.errors,
    statuses,
  };
}

/** The targets of issue 4, checked against one database's result. */
import type { DbResult, TargetResult } from './results.js';

const MILLION = 1_000_000;
const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
const pct = (v: number) => `${Math.round(v * 100)}%`;
const size = (n: number) => (n >= MILLION ? `${n / MILLION}M` : n >= 1000 ? `${n / 1000}k` : String(n));

function status(ok: boolean): TargetResult['status'] {
  return ok ? 'met' : 'missed';
}

/**
 * A target stated at 1M users, measured at `at` users: a miss at a smaller table is a miss; a pass is only
 * "not measured" until the benchmark runs with --users 1000000.
 */
function atMillion(ok: boolean, at: number): TargetResult['status'] {
  if (at >= MILLION) return status(ok);
  return ok ? 'not measured' : 'missed';
}

export function checkTargets(r: Omit<DbResult, 'targets'>): TargetResult[] {
  const out: TargetResult[] = [];
  // Like with like: the limits check no credentials, so the AUTH_REQUIRED=false figures when there are some.
  for (const name of ['get-by-id', 'get-by-email']) {
    const w = r.workloads[`${name}-open`] ?? r.workloads[name];
    if (w)
      out.push({
        target: `${w.label}: >= 60% of 1/(1/HTTP + 1/DB limit)`,
        value: pct(w.ratio),
        status: status(w.ratio >= 0.6),
      });
  }
  if (r.access) {
    out.push({
      target: 'get by id with a bearer token: >= 80% of AUTH_REQUIRED=false (issue 9)',
      value: `${pct(r.access.bearerRatio)} (API key: ${pct(r.access.apiKeyRatio)})`,
      status: status(r.access.bearerRatio >= 0.8),
    });
  }
  if (r.observability) {
    out.push({
      target: 'get by id with metrics collected: >= 95% of metrics off (issue 10)',
      value: pct(r.observability.metricsRatio),
      status: status(r.observability.metricsRatio >= 0.95),
    });
  }
  const largest = r.listScaling[r.listScaling.length - 1];
  const smallest = r.listScaling[0];
  if (largest && smallest) {
    const at = ` at ${size(largest.size)} users`;
    for (const c of ['offset-shallow', 'cursor-end'] as const) {
      const p50 = largest.cases[c].p50;
      out.push({
        target: `list (${c}) with total: p50 < 5 ms at 1M users`,
        value: ms(p50) + at,
        status: atMillion(p50 < 5, largest.size),
      });
    }
    const ratio = largest.cases['cursor-end'].p50 / smallest.cases['cursor-start'].p50;
    out.push({
      target: 'cursor page at the end of 1M vs at the start of 10k users: p50 ratio <= 1.5',
      value: `${ratio.toFixed(2)} (${size(largest.size)} end / ${size(smallest.size)} start)`,
      status: smallest.size <= 10_000 ? atMillion(ratio <= 1.5, largest.size) : 'not measured',
    });
    if (r.db === 'postgres') {
      const p50 = largest.cases.search.p50;
      out.push({
        target: 'search (3+ chars) on PostgreSQL: p50 < 10 ms at 1M users',
        value: ms(p50) + at,
        status: atMillion(p50 < 10, largest.size),
      });
    }
  }
  const create = r.workloads.create;
  if (create)
    out.push({
      target: 'create: >= 90% of the hasher on all cores',
      value: pct(create.ratio),
      status: status(create.ratio >= 0.9),
    });
  const readsP99 = r.createWithReads.reads.median.p99;
  out.push({ target: 'reads during create: p99 < 20 ms', value: ms(readsP99), status: status(readsP99 < 20) });
  out.push({
    target: 'peak RSS per service process under load <= 150 MB',
    value: `${r.rss.maxPeakMb} MiB`,
    status: status(r.rss.maxPeakMb <= 150),
  });
  if (r.startup) {
    out.push({
      target: 'ready within 1.5 s of `npm start` (embedded SQLite)',
      value: `${(r.startup.medianMs / 1000).toFixed(2)} s`,
      status: status(r.startup.medianMs <= 1500),
    });
  }
  // The WORKERS target is set for SQLite, where the database needs no core of its own.
  if (r.scaling.ratio !== null && r.db === 'sqlite') {
    const w = r.scaling.workers;
    out.push({
      target: `get by id, WORKERS=${w[w.length - 1]} / WORKERS=${w[0]}: >= 1.3x`,
      value: `${r.scaling.ratio.toFixed(2)}x`,
      status: status(r.scaling.ratio >= 1.3),
    });
  }
  return out;
}

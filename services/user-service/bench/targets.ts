/** The targets of issue 4 and of issue 13, checked against one database's result. */
import { fullSort, SORTS } from './plans.js';
import type { DbResult, SizesResult, TargetResult } from './results.js';

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

type Result = Omit<DbResult, 'targets'>;

/** The 1M and the largest point of a latency-vs-size series, when the largest is past 1M. */
function tenMillion(points: DbResult['listScaling']) {
  const million = points.find((p) => p.size === MILLION);
  const largest = points[points.length - 1];
  return million && largest && largest.size > MILLION ? { million, largest } : undefined;
}

/** Issue 13: list, cursor and search p50 at 10M within 1.5x of their 1M figures (same run). */
function sizesTargets(points: DbResult['listScaling']): TargetResult[] {
  const pair = tenMillion(points);
  const cases = ['offset-shallow', 'cursor-end', 'search'] as const;
  if (!pair)
    return [
      {
        target: 'list (offset 0-100), cursor (end) and search p50 at 10M within 1.5x of 1M (PostgreSQL)',
        value: 'no point past 1M (npm run bench -- --db postgres --users 10M --only list-scaling)',
        status: 'not measured',
      },
    ];
  const { million, largest } = pair;
  return cases.map((c) => {
    const ratio = largest.cases[c].p50 / million.cases[c].p50;
    return {
      target: `${c} p50 at ${size(largest.size)} within 1.5x of 1M`,
      value: `${ratio.toFixed(2)}x (${ms(largest.cases[c].p50)} / ${ms(million.cases[c].p50)})`,
      status: status(ratio <= 1.5),
    };
  });
}

export function checkSizesTargets(r: Omit<SizesResult, 'targets'>): TargetResult[] {
  return sizesTargets(r.listScaling);
}

/**
 * Issue 13's targets (at 1M unless said; a pass at a smaller table is "not measured"). `before`: the same
 * database and size from before issue 13 (the deep offset page's baseline).
 */
export function checkIssue13Targets(r: Result, before: DbResult | undefined): TargetResult[] {
  const out: TargetResult[] = [];
  const at = r.options.users;
  const floor = r.db === 'mariadb' ? 0.5 : 0.7;
  for (const name of ['get-by-id', 'get-by-email']) {
    const w = r.workloads[`${name}-open`] ?? r.workloads[name];
    if (w)
      out.push({
        target: `${w.label}: >= ${pct(floor)} of 1/(1/HTTP + 1/DB)`,
        value: pct(w.ratio),
        status: atMillion(w.ratio >= floor, at),
      });
  }
  if (r.access)
    out.push({
      target: 'get by id with a bearer token: >= 80% of the same without (AUTH_REQUIRED=false)',
      value: pct(r.access.bearerRatio),
      status: atMillion(r.access.bearerRatio >= 0.8, at),
    });
  for (const name of ['list-offset-shallow', 'list-cursor']) {
    const w = r.workloads[name];
    if (w)
      out.push({
        target: `${w.label}: >= 60% of 1/(1/HTTP page + 1/DB)`,
        value: pct(w.ratio),
        status: atMillion(w.ratio >= 0.6, at),
      });
  }
  const deep = r.workloads['list-offset-deep'];
  if (deep) {
    const old = before?.workloads['list-offset-deep'];
    const gain = old ? deep.median.rps / old.median.rps : Number.NaN;
    out.push({
      target: 'list, offset in last 10%: >= 3x before issue 13 (req/s)',
      value: old
        ? `${gain.toFixed(2)}x (${Math.round(deep.median.rps)} vs ${Math.round(old.median.rps)}/s on ${before?.date.slice(0, 10)})`
        : `${Math.round(deep.median.rps)}/s; no result from before issue 13 at ${size(at)} users`,
      status: old ? atMillion(gain >= 3, at) : 'not measured',
    });
  }
  if (r.plans) {
    // Each statement's lines judged within its own plan (fullSort reads where a SQLite sort sits).
    const plans = Object.values(r.plans);
    const lines = plans.flat();
    const full = plans.flatMap((plan) => plan.filter((l, i) => fullSort(l, i, plan)));
    const page = plans.flatMap((plan) => plan.filter((l, i) => SORTS.test(l) && !fullSort(l, i, plan)));
    const key = (lines.find((l) => /index/i.test(l) && !SORTS.test(l)) ?? lines[0] ?? 'no plan').trim();
    out.push({
      target: 'deep offset page: never a full sort (the plan of the service SQL)',
      value: (full.length
        ? `full sort: ${full.join('; ')}`
        : `no full sort: ${key}${page.length ? `; sorts the page's rows only: ${page.map((l) => l.trim()).join('; ')}` : ''}`
      ).slice(0, 240),
      status: full.length ? 'missed' : 'met',
    });
  }
  const search = r.workloads.search;
  if (search)
    out.push({
      target: 'search under load: >= 30% of the HTTP page limit',
      value: pct(search.ratio),
      status: atMillion(search.ratio >= 0.3, at),
    });
  const largest = r.listScaling[r.listScaling.length - 1];
  if (largest)
    out.push({
      target: 'search p50 < 10 ms at 1M, one request at a time',
      value: `${ms(largest.cases.search.p50)} at ${size(largest.size)} users`,
      status: atMillion(largest.cases.search.p50 < 10, largest.size),
    });
  // Results from before 2026-11-24 have no rare-term point.
  const rare = largest?.cases['search-rare'];
  if (largest && rare)
    out.push({
      target: 'search for a rare term (one match) p50 < 10 ms at 1M, one request at a time',
      value: `${ms(rare.p50)} at ${size(largest.size)} users`,
      status: atMillion(rare.p50 < 10, largest.size),
    });
  const update = r.workloads.update;
  if (update)
    out.push({
      target: 'update: >= 50% of 1/(1/HTTP + 1/DB update limit)',
      value: update.limit.includes('db-update') ? pct(update.ratio) : 'no database update limit in this result',
      status: update.limit.includes('db-update') ? atMillion(update.ratio >= 0.5, at) : 'not measured',
    });
  for (const name of ['create', 'login'] as const) {
    const w = r.workloads[name];
    if (w)
      out.push({
        target: `${w.label}: >= 90% of the hasher`,
        value: pct(w.ratio),
        status: status(w.ratio >= 0.9),
      });
  }
  const alongside = [
    ['create', r.createWithReads.reads],
    ['login', r.loginWithReads?.reads],
  ] as const;
  for (const [what, reads] of alongside)
    if (reads)
      out.push({
        target: `reads during ${what}: p99 < 20 ms`,
        value: ms(reads.median.p99),
        status: status(reads.median.p99 < 20),
      });
  if (r.mixed)
    out.push({
      target: 'mixed workload (80/10/5/4/1) reported: throughput, p50/p99',
      value: `${Math.round(r.mixed.median.rps)}/s, p50 ${ms(r.mixed.median.p50)}, p99 ${ms(r.mixed.median.p99)}`,
      status: 'met',
    });
  out.push({
    target: 'peak RSS <= 150 MB per process',
    value: `${r.rss.maxPeakMb} MiB`,
    status: status(r.rss.maxPeakMb <= 150),
  });
  if (r.startup)
    out.push({
      target: 'ready <= 1.5 s',
      value: `${(r.startup.medianMs / 1000).toFixed(2)} s`,
      status: status(r.startup.medianMs <= 1500),
    });
  if (r.db !== 'mariadb') {
    const rows = r.seed.reduce((s, x) => s + x.users, 0);
    const seconds = r.seed.reduce((s, x) => s + x.seconds, 0);
    const rate = rows / seconds;
    const want = r.db === 'postgres' ? 50_000 : 100_000;
    out.push({
      target: `seed >= ${want / 1000}k rows/s (\`user-service seed\`)`,
      value: `${Math.round(rate).toLocaleString('en-US')} rows/s (${r.seed.map((x) => Math.round(x.rowsPerSecond)).join(', ')} by step)`,
      status: status(rate >= want),
    });
  }
  if (r.db === 'postgres') out.push(...sizesTargets(r.listScaling));
  return out;
}

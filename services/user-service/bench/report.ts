/** Regenerates docs/PERFORMANCE.md and its SVG plots from the newest result of each database. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCALING_CASES } from './list-scaling.js';
import { listLatencySpec, renderSvg, throughputSpec } from './plots.js';
import { type DbResult, latestResults } from './results.js';

export const DOCS_DIR = fileURLToPath(new URL('../../../docs', import.meta.url));

const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const f = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const lat = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : 'n/a');
const users = (v: number) => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : String(v));
const STATUS = { met: 'met', missed: '**missed**', 'not measured': 'not measured' } as const;

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** One variant of a request next to its baseline: medians, the ratio to the baseline, each round's req/s. */
function ratioRow(name: string, s: DbResult['limits'][string], ratio: number): string[] {
  return [
    name,
    n(s.median.rps),
    lat(s.median.p50),
    lat(s.median.p99),
    `${Math.round(ratio * 100)}%`,
    s.rounds.map((x) => n(x.rps)).join(' / '),
  ];
}

/** Issue 9: what checking credentials costs get-by-id. */
function accessSection(a: NonNullable<DbResult['access']>): string[] {
  return [
    `### Access: get by id with and without credentials (WORKERS=${a.workers}, medians)`,
    table(
      ['credentials', 'req/s', 'p50 ms', 'p99 ms', 'vs open', 'req/s by round'],
      [
        ratioRow('none, AUTH_REQUIRED=false (a)', a.open, 1),
        ratioRow('bearer token: JWT verify + user and session reads (b)', a.bearer, a.bearerRatio),
        ratioRow('API key: one indexed read (c)', a.apiKey, a.apiKeyRatio),
      ],
    ),
    'Ratios are medians of the per-round ratios; issue 9 targets b >= 80% of a.',
  ];
}

/** Issue 10: what collecting Prometheus metrics costs get-by-id. */
function observabilitySection(o: NonNullable<DbResult['observability']>): string[] {
  return [
    `### Metrics: get by id (bearer token) with and without Prometheus metrics (WORKERS=${o.workers}, medians)`,
    table(
      ['metrics', 'req/s', 'p50 ms', 'p99 ms', 'vs off', 'req/s by round'],
      [
        ratioRow('off (a)', o.metricsOff, 1),
        ratioRow('on, METRICS_TOKEN set, not scraped (b)', o.metricsOn, o.metricsRatio),
      ],
    ),
    'Issue 10 targets b >= 95% of a (ratio: median of the per-round ratios).',
  ];
}

function section(r: DbResult): string {
  const o = r.options;
  const seeded = r.seed.reduce((s, x) => s + x.users, 0);
  const seedSeconds = r.seed.reduce((s, x) => s + x.seconds, 0);
  const parts = [
    `## ${r.db}`,
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\`: ${n(o.users)} users, ${o.rounds} round(s) of ${o.duration} s per measurement, ${o.connections} connections, WORKERS=${o.workers.join(' and ')}; service run as \`${r.service}\`${r.service.includes('dist/') ? ' (built as `npm start` builds it)' : ''}. Seeded ${n(seeded)} users with \`user-service seed\` in ${f(seedSeconds, 1)} s (${n(seeded / seedSeconds)} rows/s).`,
    '### Targets (issue 4)',
    table(
      ['target', 'measured', 'status'],
      r.targets.map((t) => [t.target, t.value, STATUS[t.status]]),
    ),
    `### Workloads (WORKERS=${o.workers[o.workers.length - 1]}, medians)`,
    `Requests carry ${o.auth === 'required' ? "a superuser's bearer token, on AUTH_REQUIRED=true (`--auth required`), except where the credentials column says otherwise" : o.auth === 'off' ? 'no credentials, on AUTH_REQUIRED=false (`--auth off`), except where the credentials column says otherwise' : 'no credentials: the API was open before issue 9'}. Every answer was 2xx (the benchmark stops otherwise).`,
    table(
      [
        'workload',
        'credentials',
        'req/s',
        'p50 ms',
        'p99 ms',
        'limit',
        'limit req/s',
        'ratio',
        'req/s by round',
        'non-2xx',
      ],
      Object.values(r.workloads).map((w) => [
        w.label,
        w.credential ?? 'none',
        n(w.median.rps),
        lat(w.median.p50),
        lat(w.median.p99),
        w.limit,
        n(w.limitRps),
        `${Math.round(w.ratio * 100)}%`,
        w.rounds.map((x) => n(x.rps)).join(' / '),
        w.rounds.reduce((s, x) => s + x.non2xx + x.errors, 0),
      ]),
    ),
    ...(r.access ? accessSection(r.access) : []),
    ...(r.observability ? observabilitySection(r.observability) : []),
    `Create under load with get-by-id alongside (${r.createWithReads.readConnections} of the connections): create ${n(r.createWithReads.create.median.rps)}/s, reads ${n(r.createWithReads.reads.median.rps)}/s with p50 ${lat(r.createWithReads.reads.median.p50)} ms, p99 ${lat(r.createWithReads.reads.median.p99)} ms.`,
    '### Limits (medians)',
    table(
      ['limit', 'ops/s', 'p50 ms', 'p99 ms'],
      Object.entries(r.limits).map(([name, s]) => [name, n(s.median.rps), lat(s.median.p50), lat(s.median.p99)]),
    ),
    '### WORKERS scaling (get by id)',
    table(
      ['WORKERS', 'req/s', 'p50 ms', 'p99 ms'],
      Object.entries(r.scaling.getById).map(([w, s]) => [w, n(s.median.rps), lat(s.median.p50), lat(s.median.p99)]),
    ) + (r.scaling.ratio !== null ? `\n\nRatio ${f(r.scaling.ratio)}x.` : ''),
    '### List latency against table size (p50 / p99 ms, one request at a time)',
    table(
      ['users', ...SCALING_CASES],
      r.listScaling.map((p) => [
        users(p.size),
        ...SCALING_CASES.map((c) => `${lat(p.cases[c].p50)} / ${lat(p.cases[c].p99)}`),
      ]),
    ),
    `![throughput against limits, ${r.db}](performance-${r.db}-throughput.svg)`,
    `![list latency against table size, ${r.db}](performance-${r.db}-list-latency.svg)`,
    `Peak RSS of the service: ${r.rss.processes.map((p, i) => `${p.peakMb} MiB (${i === 0 ? 'main process' : `worker ${i}`})`).join(', ')}.${r.startup ? ` Ready ${n(r.startup.medianMs)} ms after \`npm start\` on a fresh SQLite file (median of ${r.startup.ms.length}: ${r.startup.ms.map(n).join(', ')} ms).` : ''}`,
  ];
  if (r.problems.length) {
    parts.push(
      '### Problems seen during the run',
      r.problems
        .slice(0, 15)
        .map((p) => `- \`${p.replace(/`/g, "'").slice(0, 300)}\``)
        .join('\n'),
    );
  }
  return parts.join('\n\n');
}

export async function writeReport(): Promise<string> {
  const results = latestResults();
  if (results.length === 0) throw new Error('no results in bench/results');
  mkdirSync(DOCS_DIR, { recursive: true });
  for (const r of results) {
    writeFileSync(join(DOCS_DIR, `performance-${r.db}-throughput.svg`), await renderSvg(throughputSpec(r)));
    writeFileSync(join(DOCS_DIR, `performance-${r.db}-list-latency.svg`), await renderSvg(listLatencySpec(r)));
  }
  const m = results[0]?.machine;
  const doc = [
    '# Performance',
    '<!-- Generated by `npm run bench` (services/user-service/bench/report.ts) from bench/results/*.json: do not edit by hand. -->',
    'How much traffic one small machine carries, measured against the limits of that same machine in the same run: a bare Fastify server returning the same JSON from memory (HTTP limit), the database driver alone running the same SQL at the same concurrency (database limit), and argon2id on every core (hasher limit). Get-by-id/email and list pages are compared with the combined limit 1 / (1/HTTP + 1/DB); search and update with the HTTP limit; create with the hasher. Each round runs every workload next to its limits, in alternating order; figures are medians over rounds.',
    '## How to run',
    [
      '```sh',
      'npm run bench                                   # 100k users, SQLite and PostgreSQL (when reachable)',
      'npm run bench -- --users 1000000                # the 1M figures',
      'npm run bench -- --db mariadb --duration 10 --rounds 5',
      'npm run bench -- --help',
      '```',
    ].join('\n'),
    'The load generator (autocannon, in the benchmark process) runs on the same machine as the service, as in the targets; latencies are timed per response. The list-latency-vs-size figures are timed one request at a time, so they hold no queueing. The database limit runs one process per service worker with prepared statements (the fastest path of each driver); for list pages it is the page query alone (`total` is extra work by design choice). Seeded users all share one pre-computed password hash (benchmark-only data, see `user-service seed`).',
    '## Machine',
    m ? table(['cores', 'CPU', 'memory', 'Node.js', 'OS'], [[m.cores, m.cpu, `${m.memoryGb} GiB`, m.node, m.os]]) : '',
    ...results.map(section),
  ];
  const file = join(DOCS_DIR, 'PERFORMANCE.md');
  writeFileSync(file, `${doc.filter(Boolean).join('\n\n')}\n`);
  return file;
}

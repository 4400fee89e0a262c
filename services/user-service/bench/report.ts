/** Regenerates docs/PERFORMANCE.md and its SVG plots from the newest result of each database. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LatencyStat, SCALING_CASES } from './list-scaling.js';
import { listLatencySpec, renderSvg, throughputSpec } from './plots.js';
import { type DbResult, latestResults, latestSizes, type SizesResult, type TargetResult } from './results.js';

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

/**
 * The database's result with the points of its newest `--only list-scaling` run past its own largest table size
 * added to the latency-vs-size series (the 10M point), as the table and the chart show them.
 */
function withSizes(r: DbResult, sizes: SizesResult | undefined): DbResult {
  const largest = Math.max(...r.listScaling.map((p) => p.size));
  const extra = (sizes?.listScaling.filter((p) => p.size > largest) ?? []).map((p) => ({
    ...p,
    from: `${sizes?.date.slice(0, 10)} sizes run`,
  }));
  return extra.length ? { ...r, listScaling: [...r.listScaling, ...extra] } : r;
}

function sizesSection(r: SizesResult): string[] {
  const seeded = r.seed.reduce((s, x) => s + x.users, 0);
  const seconds = r.seed.reduce((s, x) => s + x.seconds, 0);
  return [
    `### Latency against table size up to ${users(r.options.users)} users (issue 13)`,
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\`: one table grown by \`user-service seed\` through ${r.listScaling.map((p) => users(p.size)).join(', ')} users (${n(seeded)} rows in ${f(seconds, 1)} s, ${n(seeded / seconds)} rows/s; by step ${r.seed.map((x) => `${n(x.rowsPerSecond)}/s`).join(', ')}), the latency points measured at each size. Points past the full run's largest size are added to the table and chart above.`,
    table(
      ['users', ...SCALING_CASES],
      r.listScaling.map((p) => [users(p.size), ...SCALING_CASES.map((c) => latencyCell(p.cases[c]))]),
    ),
    table(
      ['target', 'measured', 'status'],
      r.targets.map((t) => [t.target, t.value, STATUS[t.status]]),
    ),
  ];
}

/** Issue 13's additions: its targets, what the update limit runs, the mixed workload, login, the list plan. */
function issue13Section(r: DbResult, sizes: SizesResult | undefined): string[] {
  if (!r.targets13) return [];
  // The 10M rows come from the newest --only list-scaling run (its own 1M and 10M points) when there is one.
  const tenMillion = (t: TargetResult) => / at 10M within 1\.5x of 1M|past 1M/.test(t.target + t.value);
  const sized = sizes?.targets.some((t) => t.status !== 'not measured')
    ? [
        ...r.targets13.filter((t) => !tenMillion(t)),
        ...sizes.targets.map((t) => ({ ...t, value: `${t.value} (${sizes.date.slice(0, 10)} sizes run)` })),
      ]
    : r.targets13;
  const out = [
    '### Targets (issue 13)',
    table(
      ['target', 'measured', 'status'],
      sized.map((t) => [t.target, t.value.replace(/\|/g, '\\|'), STATUS[t.status]]),
    ),
    'A target stated at 1M users that passes on a smaller table is "not measured". The deep offset page is compared with the newest result of the same database and table size from before issue 13 in bench/results.',
  ];
  if (r.updateSql)
    out.push(
      `Database update limit (\`db-update\`): the unit of work the service's PATCH /users/{id} runs for a full-name change, traced from the data layer in this run and replayed by the driver alone, each statement prepared, one connection per concurrent worker; update is compared with 1/(1/HTTP + 1/DB update). Statements: ${r.updateSql.map((q) => `\`${q.length > 140 ? `${q.slice(0, 137)}...` : q}\``).join('; ')}. Not in it: the bearer token check (a JWT verify and two primary-key reads outside the transaction), which the HTTP limit does not include either.`,
    );
  if (r.deepPageSql)
    out.push(
      `Database deep-page limit (\`db-list-deep\`): the service's own statements for an offset page at 90-100% of the table, traced from the data layer in this run: ${r.deepPageSql.map((q) => `\`${q}\``).join('; ')}.`,
    );
  if (r.mixed)
    out.push(
      `Mixed workload (${Object.entries(r.mixed.shares)
        .map(([k, v]) => `${Math.round(v * 100)}% ${k}`)
        .join(
          ', ',
        )}; bearer token as the other workloads): ${n(r.mixed.median.rps)} req/s, p50 ${lat(r.mixed.median.p50)} ms, p99 ${lat(r.mixed.median.p99)} ms (rounds: ${r.mixed.rounds.map((x) => n(x.rps)).join(' / ')}). Logins are ${Math.round((r.mixed.shares.login ?? 0) * 100)}% of the requests; at the login workload's full-load rate (${r.workloads.login ? n(r.workloads.login.median.rps) : 'n/a'}/s, argon2id on every core) they took about ${r.workloads.login ? `${Math.round((100 * (r.mixed.shares.login ?? 0) * r.mixed.median.rps) / r.workloads.login.median.rps)}%` : 'n/a'} of the machine here (an estimate: login share x mixed req/s / login req/s).`,
    );
  if (r.loginWithReads)
    out.push(
      `Login under load with get-by-id alongside (${r.loginWithReads.readConnections} of the connections): login ${n(r.loginWithReads.login.median.rps)}/s, reads ${n(r.loginWithReads.reads.median.rps)}/s with p50 ${lat(r.loginWithReads.reads.median.p50)} ms, p99 ${lat(r.loginWithReads.reads.median.p99)} ms.`,
    );
  if (r.plans)
    for (const [what, lines] of Object.entries(r.plans))
      out.push(`Plan of the ${what}:\n\n\`\`\`\n${lines.join('\n')}\n\`\`\``);
  return out;
}

function section(r: DbResult, sizes?: SizesResult): string {
  const o = r.options;
  const seeded = r.seed.reduce((s, x) => s + x.users, 0);
  const seedSeconds = r.seed.reduce((s, x) => s + x.seconds, 0);
  const parts = [
    `## ${r.db}`,
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\`: ${n(o.users)} users, ${o.rounds} round(s) of ${o.duration} s per measurement, ${o.connections} connections (the deep offset page and its database limit: one per worker), WORKERS=${o.workers.join(' and ')}; service run as \`${r.service}\`${r.service.includes('dist/') ? ' (built as `npm start` builds it)' : ''}. Seeded ${n(seeded)} users with \`user-service seed\` in ${f(seedSeconds, 1)} s (${n(seeded / seedSeconds)} rows/s).`,
    '### Targets (issue 4)',
    table(
      ['target', 'measured', 'status'],
      r.targets.map((t) => [t.target, t.value, STATUS[t.status]]),
    ),
    ...issue13Section(r, sizes),
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
        p.from ? `${users(p.size)} (${p.from})` : users(p.size),
        ...SCALING_CASES.map((c) => latencyCell(p.cases[c])),
      ]),
    ),
    `![throughput against limits, ${r.db}](performance-${r.db}-throughput.svg)`,
    `![list latency against table size, ${r.db}](performance-${r.db}-list-latency.svg)`,
    `Peak RSS of the service: ${r.rss.processes.map((p, i) => `${p.peakMb} MiB (${i === 0 ? 'main process' : `worker ${i}`})`).join(', ')}.${r.startup ? ` Ready ${n(r.startup.medianMs)} ms after \`npm start\` on a fresh SQLite file (median of ${r.startup.ms.length}: ${r.startup.ms.map(n).join(', ')} ms).` : ''}`,
  ];
  if (sizes) parts.push(...sizesSection(sizes));
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
  const sizes = latestSizes();
  const results = latestResults().map((r) => withSizes(r, sizes.get(r.db)));
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
    'How much traffic one small machine carries, measured against the limits of that same machine in the same run: a bare Fastify server returning the same JSON from memory (HTTP limit), the database driver alone running the same SQL at the same concurrency (database limit), and argon2id on every core (hasher limit). Get-by-id/email, list pages and (since issue 13) update are compared with the combined limit 1 / (1/HTTP + 1/DB); search with the HTTP limit; create and login with the hasher. The database update limit is the unit of work the service runs for an update (see the issue-13 notes of each database). Each round runs every workload next to its limits, in alternating order; figures are medians over rounds.',
    '## How to run',
    [
      '```sh',
      'npm run bench                                   # 100k users, SQLite and PostgreSQL (when reachable)',
      'npm run bench -- --users 1000000                # the 1M figures',
      'npm run bench -- --db mariadb --duration 10 --rounds 5',
      'npm run bench -- --db postgres --users 10M --only list-scaling   # latency-vs-size points up to 10M',
      'npm run bench -- --help',
      '```',
    ].join('\n'),
    'The load generator (autocannon, in the benchmark process) runs on the same machine as the service, as in the targets; latencies are timed per response. The list-latency-vs-size figures are timed one request at a time, so they hold no queueing. The database limit runs one process per service worker with prepared statements (the fastest path of each driver); for list pages it is the page query alone (`total` is extra work by design choice). Seeded users all share one pre-computed password hash (benchmark-only data, see `user-service seed`).',
    '## Machine',
    m ? table(['cores', 'CPU', 'memory', 'Node.js', 'OS'], [[m.cores, m.cpu, `${m.memoryGb} GiB`, m.node, m.os]]) : '',
    ...results.map((r) => section(r, sizes.get(r.db))),
  ];
  const file = join(DOCS_DIR, 'PERFORMANCE.md');
  writeFileSync(file, `${doc.filter(Boolean).join('\n\n')}\n`);
  return file;
}

/** p50 / p99 of one latency point; a dash where the run had no such point (older results). */
function latencyCell(stat: LatencyStat | undefined): string {
  return stat ? `${lat(stat.p50)} / ${lat(stat.p99)}` : '–';
}

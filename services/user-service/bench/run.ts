// `npm run bench`: the benchmark of issue 4. For each database: a fresh database seeded with
// `user-service seed`, the real service started as a child process and driven over HTTP with autocannon, next
// to the limits of this machine measured in the same run. Writes bench/results/<date>-<db>.json and
// regenerates docs/PERFORMANCE.md with its plots. `npm run bench -- --help` lists the options.
import { relative } from 'node:path';
import { benchDatabase, pendingDrops } from './database-run.js';
import { reachable } from './databases.js';
import { type DbKind, parseOptions } from './options.js';
import { stopAllChildren } from './processes.js';
import { DOCS_DIR, writeReport } from './report.js';
import { type DbResult, type SizesResult, writeResult } from './results.js';
import { benchScale } from './scale.js';
import { writeScaleReport } from './scale-report.js';
import { writeScaleResult } from './scale-results.js';
import { removeServiceCopy } from './service-build.js';

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function summary(r: DbResult): string {
  const pad = (s: string | number, w: number) => String(s).padStart(w);
  const lines = [
    `\n${r.db}: ${r.options.users} users, medians of ${r.options.rounds} round(s)`,
    `${'workload'.padEnd(26)}${pad('req/s', 9)}${pad('p50', 8)}${pad('p99', 8)}${pad('limit/s', 10)}${pad('ratio', 7)}  limit`,
  ];
  for (const w of Object.values(r.workloads)) {
    lines.push(
      `${w.label.padEnd(26)}${pad(Math.round(w.median.rps), 9)}${pad(w.median.p50, 8)}${pad(w.median.p99, 8)}${pad(Math.round(w.limitRps), 10)}${pad(`${Math.round(w.ratio * 100)}%`, 7)}  ${w.limit}`,
    );
  }
  if (r.access) {
    const a = r.access;
    lines.push(`access (get by id, WORKERS=${a.workers}):`);
    for (const [name, s, ratio] of [
      ['a: AUTH_REQUIRED=false', a.open, 1],
      ['b: bearer token', a.bearer, a.bearerRatio],
      ['c: API key', a.apiKey, a.apiKeyRatio],
    ] as const)
      lines.push(
        `  ${name.padEnd(24)}${pad(Math.round(s.median.rps), 9)}${pad(s.median.p50, 8)}${pad(s.median.p99, 8)}${pad(`${Math.round(ratio * 100)}%`, 7)} of a`,
      );
  }
  lines.push('limits:');
  for (const [name, s] of Object.entries(r.limits))
    lines.push(`  ${name.padEnd(24)}${pad(Math.round(s.median.rps), 9)}${pad(s.median.p50, 8)}${pad(s.median.p99, 8)}`);
  if (r.mixed)
    lines.push(
      `mixed (80/10/5/4/1)${pad(Math.round(r.mixed.median.rps), 16)}${pad(r.mixed.median.p50, 8)}${pad(r.mixed.median.p99, 8)}`,
    );
  if (r.updateSql) lines.push(`db-update runs: ${r.updateSql.join('; ')}`);
  if (r.deepPageSql) lines.push(`db-list-deep runs: ${r.deepPageSql.join('; ')}`);
  lines.push('targets:');
  for (const t of r.targets) lines.push(`  [${t.status}] ${t.target}: ${t.value}`);
  lines.push('targets (issue 13):');
  for (const t of r.targets13 ?? []) lines.push(`  [${t.status}] ${t.target}: ${t.value}`);
  return lines.join('\n');
}

function sizesSummary(r: SizesResult): string {
  const lines = [`\n${r.db}: latency vs table size (p50 / p99 ms, one request at a time)`];
  for (const p of r.listScaling)
    lines.push(
      `  ${String(p.size).padStart(9)}  ${Object.entries(p.cases)
        .map(([c, s]) => `${c} ${s.p50.toFixed(2)}/${s.p99.toFixed(2)}`)
        .join('  ')}`,
    );
  for (const t of r.targets) lines.push(`  [${t.status}] ${t.target}: ${t.value}`);
  return lines.join('\n');
}

/** Issue 12's scale-out benchmark (`--scale`): its own servers, results file and docs/SCALING-RESULTS.md. */
async function mainScale(options: ReturnType<typeof parseOptions>): Promise<void> {
  if (!options.reportOnly) {
    const result = await benchScale(options, log);
    log(`wrote ${relative(process.cwd(), writeScaleResult(result))}`);
    for (const c of result.comparisons) {
      if (c.skipped) process.stdout.write(`${c.title}: skipped: ${c.skipped}\n`);
      for (const w of Object.values(c.workloads))
        process.stdout.write(
          `${`${c.title}, ${w.label}:`.padEnd(64)} ${Math.round(w.baseline.median.rps)} -> ${Math.round(w.variant.median.rps)} req/s  ${w.ratio.toFixed(2)}x  p99 ${w.baseline.median.p99} -> ${w.variant.median.p99} ms${w.hitRatio !== undefined ? `  hit ratio ${Math.round(w.hitRatio * 100)}%` : ''}\n`,
        );
    }
  }
  log(`wrote ${relative(process.cwd(), await writeScaleReport())} and docs/scaling-ratios.svg`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.scale) return mainScale(options);
  if (!options.reportOnly) {
    const kinds: DbKind[] = [];
    for (const kind of options.dbs) {
      const status = await reachable(kind);
      if (status === true) kinds.push(kind);
      else if (options.dbsRequested) throw new Error(status);
      else log(`skipping ${kind}: ${status}`);
    }
    for (const kind of kinds) {
      const result = await benchDatabase(kind, options, log);
      log(`wrote ${relative(process.cwd(), writeResult(result))}`);
      process.stdout.write(`${'kind' in result ? sizesSummary(result) : summary(result)}\n`);
    }
  }
  const doc = await writeReport();
  log(`wrote ${relative(process.cwd(), doc)} and its plots in ${relative(process.cwd(), DOCS_DIR)}/`);
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: stopping children and dropping benchmark databases');
  stopAllChildren();
  removeServiceCopy();
  void Promise.allSettled([...pendingDrops].map((db) => db.drop())).then(() => process.exit(130));
});
process.on('exit', stopAllChildren);

try {
  await main();
} catch (error) {
  stopAllChildren();
  log(`failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
}

/**
 * Regenerates docs/SCALING-RESULTS.md and docs/scaling-ratios.svg from the newest bench/results/<date>-scale.json
 * (docs/SCALING.md, written by hand, links to them).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from 'vega';
import { renderSvg } from './plots.js';
import { DOCS_DIR } from './report.js';
import { hitRatio } from './scale-metrics.js';
import {
  type ComparisonResult,
  latestScaleResult,
  type ReadSplit,
  type ScaleLoad,
  type ScaleResult,
  type ScaleSeries,
} from './scale-results.js';

const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const lat = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : 'n/a');
const pct = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 100)}%` : 'n/a');
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a');

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const FONT = { labelFont: 'sans-serif', titleFont: 'sans-serif' };

/** Bar labels: what the variant adds to its baseline. */
const SHORT: Record<ComparisonResult['name'], string> = {
  cache: 'Redis cache vs none',
  replica: 'one replica vs primary only',
  pgbouncer: 'PgBouncer vs direct',
  instances: '2 instances vs 1',
};

/** Horizontal bars: each comparison's variant/baseline req/s ratio per workload, with 1.0 (no change) marked. */
export function ratioSpec(r: ScaleResult): Spec {
  const values = r.comparisons.flatMap((c) =>
    Object.values(c.workloads).map((w) => ({
      row: `${SHORT[c.name]}${c.name === 'instances' ? ` (WORKERS=${c.workers})` : ''}: ${w.label}`,
      comparison: c.title,
      ratio: w.ratio,
      label: x(w.ratio),
    })),
  );
  const hi = Math.max(2, ...values.map((v) => v.ratio * 1.15).filter(Number.isFinite));
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: 420,
    height: 24 * Math.max(1, values.length),
    padding: 5,
    title: {
      text: `Scale-out ratios (variant / baseline req/s, medians of ${r.options.rounds} rounds), ${r.machine.cores} cores`,
    },
    data: [{ name: 'table', values }],
    scales: [
      { name: 'y', type: 'band', domain: { data: 'table', field: 'row' }, range: 'height', padding: 0.2 },
      { name: 'x', type: 'linear', domain: [0, hi], range: 'width', nice: true },
      { name: 'color', type: 'ordinal', domain: { data: 'table', field: 'comparison' }, range: 'category' },
    ],
    axes: [
      { orient: 'left', scale: 'y', tickSize: 0, labelPadding: 4, labelLimit: 420, ...FONT },
      { orient: 'bottom', scale: 'x', title: 'req/s ratio (1 = no change)', grid: true, ...FONT },
    ],
    marks: [
      {
        name: 'bars',
        type: 'rect',
        from: { data: 'table' },
        encode: {
          enter: {
            y: { scale: 'y', field: 'row' },
            height: { scale: 'y', band: 1 },
            x: { scale: 'x', value: 0 },
            x2: { scale: 'x', field: 'ratio' },
            fill: { scale: 'color', field: 'comparison' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'bars' },
        encode: {
          enter: {
            x: { field: 'x2', offset: 4 },
            y: { field: 'y', offset: { field: 'height', mult: 0.5 } },
            baseline: { value: 'middle' },
            fontSize: { value: 10 },
            fill: { value: '#333' },
            text: { field: 'datum.label' },
          },
        },
      },
      {
        type: 'rule',
        encode: {
          enter: {
            x: { scale: 'x', value: 1 },
            y: { value: 0 },
            y2: { signal: 'height' },
            stroke: { value: '#d62728' },
            strokeDash: { value: [4, 4] },
          },
        },
      },
    ],
  };
}

const cpuCell = (s: ScaleSeries) =>
  `${pct(s.cpu.machineBusy)} (generator ${s.cpu.generatorCores.toFixed(2)}, other work ${pct(s.cpu.otherBusy ?? Number.NaN)})`;

function summaryRows(r: ScaleResult): (string | number)[][] {
  return r.comparisons.flatMap((c) =>
    c.skipped
      ? [[c.title, '-', '-', '-', `skipped: ${c.skipped}`, '-', '-', '-']]
      : Object.values(c.workloads).map((w) => [
          c.title,
          w.label,
          `${n(w.baseline.median.rps)} (${c.baseline})`,
          `${n(w.variant.median.rps)} (${c.variant})`,
          `**${x(w.ratio)}**`,
          `${lat(w.baseline.median.p50)} → ${lat(w.variant.median.p50)}`,
          `${lat(w.baseline.median.p99)} → ${lat(w.variant.median.p99)}`,
          `${pct(w.baseline.cpu.machineBusy)} / ${pct(w.variant.cpu.machineBusy)}`,
        ]),
  );
}

function splitRow(workload: string, side: string, s: ReadSplit): (string | number)[] {
  return [
    workload,
    side,
    n(s.requests),
    n(s.primaryTransactions),
    n(s.replicaTransactions),
    (s.primaryTransactions / Math.max(1, s.requests)).toFixed(2),
    (s.replicaTransactions / Math.max(1, s.requests)).toFixed(2),
    pct(s.replicaShare),
    n(s.serviceReplicaReads ?? Number.NaN),
  ];
}

function comparisonSection(c: ComparisonResult, index: number): string[] {
  const parts = [`## ${index + 1}. ${c.title}`, ...c.notes];
  if (c.skipped) return [...parts, `Not measured in this run: ${c.skipped}.`];
  parts.push(
    table(
      [
        'workload',
        'side',
        'req/s',
        'p50 ms',
        'p99 ms',
        'cores busy (generator in cores, work outside the bench)',
        'req/s by round',
      ],
      Object.values(c.workloads).flatMap((w) => [
        [
          w.label,
          c.baseline,
          n(w.baseline.median.rps),
          lat(w.baseline.median.p50),
          lat(w.baseline.median.p99),
          cpuCell(w.baseline),
          w.baseline.rounds.map((r) => n(r.rps)).join(' / '),
        ],
        [
          `${w.label}: **${x(w.ratio)}**`,
          c.variant,
          n(w.variant.median.rps),
          lat(w.variant.median.p50),
          lat(w.variant.median.p99),
          cpuCell(w.variant),
          w.variant.rounds.map((r) => n(r.rps)).join(' / '),
        ],
      ]),
    ),
  );
  const cached = Object.values(c.workloads).filter((w) => w.cache);
  if (cached.length) {
    const kinds = [...new Set(cached.flatMap((w) => Object.keys(w.cache ?? {})))].filter((k) =>
      cached.some((w) => {
        const counts = w.cache?.[k];
        return counts && counts.hit + counts.miss + counts.bypass > 0;
      }),
    );
    parts.push(
      "Cache lookups during the measured rounds (`user_cache_lookups_total` from the service's /metrics): hit ratio, and hits / misses / bypasses, by key kind.",
      table(
        ['workload', ...kinds],
        cached.map((w) => [
          w.label,
          ...kinds.map((k) => {
            const counts = w.cache?.[k];
            return counts && counts.hit + counts.miss + counts.bypass > 0
              ? `${pct(hitRatio(counts))} (${n(counts.hit)} / ${n(counts.miss)} / ${n(counts.bypass)})`
              : '-';
          }),
        ]),
      ),
    );
  }
  const split = Object.values(c.workloads).filter((w) => w.readSplit);
  const background = split[0]?.readSplit?.variant.background;
  if (split.length && background) {
    parts.push(
      `Where the reads went: transactions committed in the benchmark database on each server (pg_stat_database.xact_commit) during one more load of each workload per side (each request is a bearer-token check plus the lookup), less the services' background work measured over a quiet window (the replica probes: e.g. ${n(background.primary)} on the primary and ${n(background.replica)} on the replica subtracted for one load).`,
      table(
        [
          'workload',
          'service',
          'requests',
          'primary',
          'replica',
          'primary per request',
          'replica per request',
          'replica share',
          'replica reads the service counted',
        ],
        split.flatMap((w) =>
          w.readSplit
            ? [splitRow(w.label, c.baseline, w.readSplit.baseline), splitRow(w.label, c.variant, w.readSplit.variant)]
            : [],
        ),
      ),
    );
  }
  return parts;
}

export function scaleDoc(r: ScaleResult): string {
  const o = r.options;
  const m = r.machine;
  const busiest = Math.max(
    ...r.comparisons.flatMap((c) =>
      Object.values(c.workloads).flatMap((w) => [w.baseline.cpu.machineBusy, w.variant.cpu.machineBusy]),
    ),
  );
  const quietest = Math.min(
    ...r.comparisons.flatMap((c) =>
      Object.values(c.workloads).flatMap((w) => [w.baseline.cpu.machineBusy, w.variant.cpu.machineBusy]),
    ),
  );
  // Every measurement's share of the cores taken by work outside the benchmark (absent in older results).
  const others = r.comparisons
    .flatMap((c) => Object.values(c.workloads).flatMap((w) => [...w.baseline.rounds, ...w.variant.rounds]))
    .map((round) => (round as Partial<ScaleLoad>).otherBusy)
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
    .sort((a, b) => a - b);
  const doc = [
    '# Scale-out measurements',
    '<!-- Generated by `npm run bench -- --scale` (services/user-service/bench/scale-report.ts) from bench/results/<date>-scale.json: do not edit by hand. -->',
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\`: ${n(o.users)} users (seeded in ${r.seed.seconds.toFixed(1)} s), ${o.rounds} round(s) of ${o.duration} s per measurement, ${o.connections} connections, WORKERS=${o.workers} per instance, service run as \`${r.service}\`. Every request carries a superuser's bearer token (AUTH_REQUIRED=true) and every answer was 2xx (the benchmark stops otherwise). Baseline and variant run side by side and are measured in alternating order; ratios are medians of the per-round ratios.`,
    table(
      ['cores', 'CPU', 'memory', 'Node.js', 'OS', 'load average before the run'],
      [[m.cores, m.cpu, `${m.memoryGb} GiB`, m.node, m.os, (r.loadAverageBefore ?? []).join(' / ')]],
    ),
    `Servers, all started by the benchmark on free loopback ports: ${Object.entries(r.servers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}.`,
    '## Summary',
    table(
      ['comparison', 'workload', 'baseline req/s', 'variant req/s', 'ratio', 'p50 ms', 'p99 ms', 'cores busy'],
      summaryRows(r),
    ),
    '![scale-out ratios](scaling-ratios.svg)',
    `Everything (service processes, PostgreSQL primary and replica, Redis, PgBouncer and the load generator) shares the same ${m.cores} cores: they were ${pct(quietest)} to ${pct(busiest)} busy during the measurements. A ratio near 1 with the cores saturated means the machine, not the design, is the bound; the absolute figures are not those of a deployment with a machine per server.${others.length ? ` Work outside the benchmark (other processes on the machine) took a median of ${pct(others[Math.floor(others.length / 2)] as number)} of the cores per measurement, at most ${pct(others.at(-1) as number)}; ${others.filter((v) => v > 0.1).length} of ${others.length} measurements had more than 10%.` : ''}`,
    ...r.comparisons.flatMap(comparisonSection),
  ];
  if (r.problems.length)
    doc.push(
      '## Problems seen during the run',
      r.problems
        .slice(0, 15)
        .map((p) => `- \`${p.replace(/`/g, "'").slice(0, 300)}\``)
        .join('\n'),
    );
  return `${doc.filter(Boolean).join('\n\n')}\n`;
}

export async function writeScaleReport(): Promise<string> {
  const r = latestScaleResult();
  if (!r) throw new Error('no <date>-scale.json in bench/results: run `npm run bench -- --scale` first');
  mkdirSync(DOCS_DIR, { recursive: true });
  writeFileSync(join(DOCS_DIR, 'scaling-ratios.svg'), await renderSvg(ratioSpec(r)));
  const file = join(DOCS_DIR, 'SCALING-RESULTS.md');
  writeFileSync(file, scaleDoc(r));
  return file;
}

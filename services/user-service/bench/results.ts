/** The shape of bench/results/<date>-<db>.json, and reading/writing those files. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LatencyStat, ScalingCase } from './list-scaling.js';

export type ScalingCases = Record<Exclude<ScalingCase, 'search-rare'>, LatencyStat> &
  Partial<Record<'search-rare', LatencyStat>>;

import type { LoadResult } from './load.js';
import type { DbKind } from './options.js';
import type { SeedRun } from './seed-db.js';
import { median, sig } from './stats.js';
import type { Credential } from './workloads.js';

export const RESULTS_DIR = fileURLToPath(new URL('./results', import.meta.url));

export interface Series {
  rounds: LoadResult[];
  median: { rps: number; p50: number; p99: number };
}

export interface WorkloadResult extends Series {
  label: string;
  /** What the requests carried (absent in results from before issue 9: none, on the then open API). */
  credential?: Credential;
  /** The limit compared with, e.g. "http-user + db-by-id" (combined) or "hasher". */
  limit: string;
  limitRps: number;
  /** Median over rounds of (workload req/s / limit req/s in the same round). */
  ratio: number;
}

export interface Machine {
  cores: number;
  cpu: string;
  memoryGb: number;
  node: string;
  os: string;
}

export interface TargetResult {
  target: string;
  value: string;
  status: 'met' | 'missed' | 'not measured';
}

export interface DbResult {
  date: string;
  db: DbKind;
  command: string;
  /** How the service process was started: the `npm start` bundle (node dist/main.js) or src/main.ts under tsx. */
  service: string;
  machine: Machine;
  options: {
    users: number;
    duration: number;
    rounds: number;
    workers: number[];
    connections: number;
    /** Absent in results from before issue 9, whose API was open. */
    auth?: 'required' | 'off';
  };
  seed: SeedRun[];
  workloads: Record<string, WorkloadResult>;
  /**
   * Issue 9: get by id at the largest WORKERS with AUTH_REQUIRED=false and no credentials (open), with a user's
   * (the bench superuser's) bearer token, with an API key; ratios are medians of the per-round ratios to open.
   * Absent in results from before issue 9.
   */
  access?: {
    workers: number;
    open: Series;
    bearer: Series;
    apiKey: Series;
    bearerRatio: number;
    apiKeyRatio: number;
  };
  /**
   * Issue 10: get by id with a bearer token on a service collecting Prometheus metrics (METRICS_TOKEN set) and
   * on the same service without; the ratio is the median of the per-round ratios. Absent before issue 10.
   */
  observability?: { workers: number; metricsOff: Series; metricsOn: Series; metricsRatio: number };
  limits: Record<string, Series>;
  /** Create at full load while get-by-id runs alongside on a quarter of the connections. */
  createWithReads: { create: Series; reads: Series; readConnections: number };
  /** Issue 13: login (seeded users) at full load while get-by-id runs alongside, as createWithReads. */
  loginWithReads?: { login: Series; reads: Series; readConnections: number };
  /** Issue 13: the mixed workload (shares of each request kind), throughput and latency over all requests. */
  mixed?: Series & { shares: Record<string, number> };
  /** Issue 13: the statements of the service's PATCH (full name), traced this run: what db-update runs. */
  updateSql?: string[];
  /** The service's deep page statements, traced this run: what db-list-deep runs (absent: the hand-built join). */
  deepPageSql?: string[];
  /** Issue 13: each list query's plan, as the database explains the service's SQL (the key lines). */
  plans?: Record<string, string[]>;
  /** Issue 13's targets (absent before issue 13). */
  targets13?: TargetResult[];
  /** get-by-id per WORKERS value, and the largest / 1-worker ratio. */
  scaling: { workers: number[]; getById: Record<string, Series>; ratio: number | null };
  /** `from`: set by the report on points merged from an `--only list-scaling` run (never saved). */
  /** `search-rare` was added on 2026-11-24: older results have no such point. */
  listScaling: { size: number; cases: ScalingCases; from?: string }[];
  /** `npm start` to first 200 from /health on a fresh SQLite database, in ms. */
  startup: { ms: number[]; medianMs: number } | null;
  /** Peak RSS (VmHWM) of each service process after all workloads, in MiB. */
  rss: { processes: { pid: number; peakMb: number }[]; maxPeakMb: number };
  problems: string[];
  targets: TargetResult[];
}

/**
 * `--only list-scaling` (issue 13's 10M run): the latency-vs-size points alone, written as
 * bench/results/<date>-<db>-sizes.json and merged into that database's section of the report.
 */
export interface SizesResult {
  kind: 'sizes';
  date: string;
  db: DbKind;
  command: string;
  service: string;
  machine: Machine;
  options: { users: number; auth?: 'required' | 'off' };
  seed: SeedRun[];
  listScaling: DbResult['listScaling'];
  targets: TargetResult[];
  problems: string[];
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return {
    cores: cpus().length,
    cpu,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${process.platform} ${readRelease()}`,
  };
}

function readRelease(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return '';
  }
}

export function series(rounds: LoadResult[]): Series {
  const clean = rounds.map((r) => ({ ...r, rps: sig(r.rps, 4), p50: sig(r.p50), p99: sig(r.p99) }));
  return {
    rounds: clean,
    median: {
      rps: sig(median(rounds.map((r) => r.rps)), 4),
      p50: sig(median(rounds.map((r) => r.p50))),
      p99: sig(median(rounds.map((r) => r.p99))),
    },
  };
}

/**
 * JSON laid out as the repository's formatter (Biome) lays it out, so `biome check` stays clean: objects one
 * key a line, arrays of plain values on one line when that line fits in 120 columns. `prefix` is the length of
 * what precedes the value on its line (`"key": `), `last` whether a comma follows.
 */
export function formatJson(value: unknown, indent = '', prefix = 0, last = true): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => JSON.stringify(v ?? null)).join(', ')}]`;
      if (indent.length + prefix + flat.length + (last ? 0 : 1) <= 120) return flat;
    }
    const items = value.map((v, i) => inner + formatJson(v, inner, 0, i === value.length - 1));
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const lines = entries.map(([k, v], i) => {
      const key = `${JSON.stringify(k)}: `;
      return `${inner}${key}${formatJson(v, inner, key.length, i === entries.length - 1)}`;
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(typeof value === 'number' && !Number.isFinite(value) ? null : (value ?? null));
}

export function writeResult(result: DbResult | SizesResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const sizes = 'kind' in result && result.kind === 'sizes';
  const file = join(RESULTS_DIR, `${result.date.slice(0, 10)}-${result.db}${sizes ? '-sizes' : ''}.json`);
  writeFileSync(file, `${formatJson(result)}\n`);
  return file;
}

/** The newest `--only list-scaling` result of each database. */
export function latestSizes(): Map<DbKind, SizesResult> {
  const latest = new Map<DbKind, SizesResult>();
  let files: string[] = [];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => /^\d{4}-\d\d-\d\d-(sqlite|postgres|mariadb)-sizes\.json$/.test(f));
  } catch {
    return latest;
  }
  for (const f of files.sort()) {
    const r = JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as SizesResult;
    const prev = latest.get(r.db);
    if (!prev || prev.date <= r.date) latest.set(r.db, r);
  }
  return latest;
}

/**
 * The baseline of issue 13's before/after targets: the newest result of the database at the same table size
 * from before issue 13 (a file without issue-13 targets, e.g. 2026-11-22-postgres.json); undefined if none.
 */
export function previousResult(db: DbKind, users: number, before: string): DbResult | undefined {
  let files: string[] = [];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => new RegExp(`^\\d{4}-\\d\\d-\\d\\d-${db}\\.json$`).test(f));
  } catch {
    return undefined;
  }
  let found: DbResult | undefined;
  for (const f of files.sort()) {
    const r = JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as DbResult;
    if (r.options.users === users && !r.targets13 && r.date < before && (!found || found.date < r.date)) found = r;
  }
  return found;
}

/** The newest result of each database, in the order sqlite, postgres, mariadb. */
export function latestResults(): DbResult[] {
  let files: string[] = [];
  try {
    // Not <date>-scale.json: the scale-out benchmark's results have a shape of their own (scale-results.ts).
    files = readdirSync(RESULTS_DIR).filter((f) => /^\d{4}-\d\d-\d\d-(sqlite|postgres|mariadb)\.json$/.test(f));
  } catch {
    return [];
  }
  const latest = new Map<string, DbResult>();
  for (const f of files.sort()) {
    const r = JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as DbResult;
    const prev = latest.get(r.db);
    if (!prev || prev.date <= r.date) latest.set(r.db, r);
  }
  return (['sqlite', 'postgres', 'mariadb'] as const).flatMap((db) => latest.get(db) ?? []);
}

/** The shape of bench/results/<date>-scale.json (the scale-out benchmark), and reading/writing those files. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CpuUse } from './cpu.js';
import type { LoadResult } from './load.js';
import { formatJson, type Machine, RESULTS_DIR, type Series } from './results.js';
import type { SeedRun } from './seed-db.js';

/** One measurement: the load's figures and how busy the cores were meanwhile. */
export type ScaleLoad = LoadResult & CpuUse;

export interface ScaleSeries extends Series {
  /** Medians over rounds of the CPU figures. */
  cpu: CpuUse;
}

export type ComparisonName = 'cache' | 'replica' | 'pgbouncer' | 'instances';

/** A Redis user-cache counter delta (user_cache_lookups_total) over a comparison's measurements. */
export interface CacheCounts {
  hit: number;
  miss: number;
  bypass: number;
}

/** Transactions committed on each server during one load (the services' background work subtracted). */
export interface ReadSplit {
  requests: number;
  primaryTransactions: number;
  replicaTransactions: number;
  /** Transactions subtracted on each server: the services' background rate (replica probes) over the window. */
  background: { primary: number; replica: number };
  /** Reads the service itself counted as served by a replica (db_replica_reads_total) during the load. */
  serviceReplicaReads: number;
  /** Share of the transactions the replica ran (0-1). */
  replicaShare: number;
}

export interface WorkloadComparison {
  label: string;
  baseline: ScaleSeries;
  variant: ScaleSeries;
  /** Median over rounds of variant req/s / baseline req/s in the same round. */
  ratio: number;
  /** Only for the cache comparison: the variant's lookups by key kind (id, email, session...). */
  cache?: Record<string, CacheCounts>;
  /** Only for the cache comparison: hits / (hits + misses) of the key kind this workload looks up. */
  hitRatio?: number;
  /** Only for the replica comparison: where the reads of one more load of this workload went, per side. */
  readSplit?: { baseline: ReadSplit; variant: ReadSplit };
}

export interface ComparisonResult {
  name: ComparisonName;
  title: string;
  baseline: string;
  variant: string;
  /** WORKERS per service instance (absent when skipped). */
  workers?: number;
  /** Why it did not run (a missing tool); the others still ran. */
  skipped?: string;
  workloads: Record<string, WorkloadComparison>;
  notes: string[];
}

export interface ScaleResult {
  date: string;
  command: string;
  service: string;
  machine: Machine;
  /**
   * The machine's 1/5/15-minute load averages when the run started: other work on the machine (tests of
   * colleagues) takes cores from both sides of every comparison and widens the spread between rounds.
   */
  loadAverageBefore: number[];
  options: { users: number; duration: number; rounds: number; workers: number; connections: number };
  /** Versions and settings of the servers the run started. */
  servers: Record<string, string>;
  seed: SeedRun;
  comparisons: ComparisonResult[];
  problems: string[];
}

export function writeScaleResult(result: ScaleResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${result.date.slice(0, 10)}-scale.json`);
  writeFileSync(file, `${formatJson(result)}\n`);
  return file;
}

/** The newest scale-out result, or undefined when none was saved. */
export function latestScaleResult(): ScaleResult | undefined {
  let files: string[] = [];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => /^\d{4}-\d\d-\d\d-scale\.json$/.test(f));
  } catch {
    return undefined;
  }
  const newest = files.sort().at(-1);
  return newest ? (JSON.parse(readFileSync(join(RESULTS_DIR, newest), 'utf8')) as ScaleResult) : undefined;
}

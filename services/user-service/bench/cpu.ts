/**
 * How busy the machine's cores were during a measurement, and how much of that was the load generator (this
 * process: autocannon runs in it). On a 2-core machine the service, the databases, Redis and the generator share
 * the cores, so a ratio near 1 with the cores near 100% busy says "bounded by the cores", not "no gain".
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuUse {
  /** Fraction of all cores' time not idle (0-1), from /proc/stat; NaN where there is no /proc. */
  machineBusy: number;
  /** Cores' worth of CPU time the load generator used (user + system of this process). */
  generatorCores: number;
}

/** [busy, total] jiffies of all cores together. */
function jiffies(): [number, number] | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return [total - idle, total];
  } catch {
    return undefined;
  }
}

/** Starts measuring; the returned function ends the measurement. */
export function cpuMeter(): () => CpuUse {
  const start = jiffies();
  const startUsage = process.cpuUsage();
  const startedAt = performance.now();
  return () => {
    const end = jiffies();
    const usage = process.cpuUsage(startUsage);
    const seconds = Math.max(0.001, (performance.now() - startedAt) / 1000);
    const machineBusy = start && end && end[1] > start[1] ? (end[0] - start[0]) / (end[1] - start[1]) : Number.NaN;
    return {
      machineBusy: Math.round(machineBusy * 1000) / 1000,
      generatorCores: Math.round(((usage.user + usage.system) / 1e6 / seconds) * 100) / 100,
    };
  };
}

export const CORES = availableParallelism();

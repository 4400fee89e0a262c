/**
 * How busy the machine's cores were during a measurement, how much of that was the load generator (this
 * process: autocannon runs in it), and how much was work outside the benchmark (colleagues' tests on a shared
 * machine). On a 2-core machine the service, the databases, Redis and the generator share the cores, so a ratio
 * near 1 with the cores near 100% busy says "bounded by the cores", not "no gain"; and a measurement during
 * which other work took a large share of the cores is disturbed, whatever its ratio.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { descendantsOf } from '@user-service/data/testing';

export interface CpuUse {
  /** Fraction of all cores' time not idle (0-1), from /proc/stat; NaN where there is no /proc. */
  machineBusy: number;
  /** Cores' worth of CPU time the load generator used (user + system of this process). */
  generatorCores: number;
  /**
   * Fraction of all cores' time used by processes outside the benchmark's own (this process, its children and
   * the given servers with their descendants); NaN where there is no /proc.
   */
  otherBusy: number;
}

/**
 * [busy, total, process time] jiffies of all cores together; process time is user + nice + system, what the
 * kernel charges to processes (interrupt time, e.g. loopback traffic handled in softirq, is charged to none).
 */
function jiffies(): [number, number, number] | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return [total - idle, total, (fields[0] ?? 0) + (fields[1] ?? 0) + (fields[2] ?? 0)];
  } catch {
    return undefined;
  }
}

/** utime + stime of one process in jiffies (the same unit as /proc/stat), or 0 when it is gone. */
function processJiffies(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), counted from field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** CPU time of each process of the benchmark's own: this one, the servers given, and all their descendants. */
function ownJiffies(servers: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const root of [process.pid, ...servers])
    for (const pid of [root, ...descendantsOf(root)]) out.set(pid, processJiffies(pid));
  return out;
}

/**
 * Starts measuring; the returned function ends the measurement. `servers`: pids of servers the benchmark started
 * that are not its descendants (PostgreSQL clusters, which pg_ctl detaches).
 */
export function cpuMeter(servers: number[] = []): () => CpuUse {
  const start = jiffies();
  const startOwn = ownJiffies(servers);
  const startUsage = process.cpuUsage();
  const startedAt = performance.now();
  return () => {
    const end = jiffies();
    const endOwn = ownJiffies(servers);
    const usage = process.cpuUsage(startUsage);
    const seconds = Math.max(0.001, (performance.now() - startedAt) / 1000);
    const round3 = (v: number) => Math.round(v * 1000) / 1000;
    if (!start || !end || end[1] <= start[1]) {
      return { machineBusy: Number.NaN, generatorCores: Number.NaN, otherBusy: Number.NaN };
    }
    // A process that started during the measurement counts with all of its time; one that ended, not at all.
    let own = 0;
    for (const [pid, j] of endOwn) own += j - (startOwn.get(pid) ?? 0);
    const total = end[1] - start[1];
    const busy = end[0] - start[0];
    return {
      machineBusy: round3(busy / total),
      generatorCores: Math.round(((usage.user + usage.system) / 1e6 / seconds) * 100) / 100,
      otherBusy: round3(Math.max(0, end[2] - start[2] - own) / total),
    };
  };
}

export const CORES = availableParallelism();

/**
 * `npm run bench -- --scale`: the scale-out benchmark of issue 12. One PostgreSQL database seeded like the main
 * bench's, on a private primary with a streaming replica, a private Redis and PgBouncer; the real service started
 * as child processes (`npm start`'s bundle) and driven with get-by-id and get-by-email (a superuser's bearer
 * token, as the main bench). Four comparisons, each a baseline and a variant measured in alternating rounds:
 * 1. the Redis user cache vs none, 2. reads through one replica vs the primary alone, 3. PgBouncer (transaction
 * pooling) vs a direct connection, 4. two instances vs one (each with the same WORKERS, load split evenly).
 * On a machine with few cores everything shares them: ratios and CPU use are the result, not absolute scaling.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { CORES, cpuMeter } from './cpu.js';
import { pendingDrops, settleServices } from './database-run.js';
import { assertAll2xx, type NextRequest, runLoad } from './load.js';
import type { BenchOptions } from './options.js';
import { type Child, startService } from './processes.js';
import { machine, series } from './results.js';
import { type Log, type Measure, runRounds } from './rounds.js';
import { loadSample, pickFrom } from './sample.js';
import { addDelta, type CacheSnapshot, cacheCounters, counterSum, hitRatio } from './scale-metrics.js';
import { pgbouncerUnavailable, startPgBouncer } from './scale-pgbouncer.js';
import type {
  ComparisonName,
  ComparisonResult,
  ReadSplit,
  ScaleLoad,
  ScaleResult,
  ScaleSeries,
  WorkloadComparison,
} from './scale-results.js';
import {
  addReplica,
  BENCH_DATABASE,
  committedTransactions,
  type PostgresPair,
  type PrivateRedis,
  STATS_FLUSH_MS,
  scaleServersUnavailable,
  startPrimary,
  startRedis,
} from './scale-servers.js';
import { seed } from './seed-db.js';
import { serviceEntry } from './service-build.js';
import { median, sig } from './stats.js';
import { NEXT } from './workloads.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How one side of a comparison is deployed: service instances (each WORKERS processes) and their variables. */
interface Deployment {
  label: string;
  instances: number;
  databaseUrl: string;
  env: Record<string, string>;
}

interface ScaleWorkload {
  name: string;
  label: string;
  next: NextRequest;
  /** The user-cache key kind this workload looks up (for the hit ratio). */
  cacheKind: string;
}

interface ComparisonPlan {
  name: ComparisonName;
  title: string;
  /** WORKERS per instance, when not the bench's (--workers). */
  workers?: number;
  baseline: Deployment;
  variant: Deployment;
  workloads: ScaleWorkload[];
  notes: string[];
  /** Needs something that may be missing (pgbouncer): why not, or undefined. */
  unavailable?: () => Promise<string | undefined>;
  /** Started before the deployments, stopped after (PgBouncer); sets the variant's database URL. */
  prepare?: (plan: ComparisonPlan) => Promise<() => Promise<void>>;
}

interface Deployed {
  children: Child[];
  target: { url: string | string[]; headers: Record<string, string> };
}

/** METRICS_TOKEN of every service of the run (random per run): the cache's counters are read from /metrics. */
const METRICS_TOKEN = `bench-metrics-${randomBytes(12).toString('hex')}`;

/**
 * Every deployment sets these explicitly, so that a REDIS_URL or DATABASE_REPLICA_URLS in the environment of
 * whoever runs the benchmark cannot turn a baseline into a variant.
 */
const PLAIN = { REDIS_URL: '', DATABASE_REPLICA_URLS: '', METRICS_TOKEN };

export async function benchScale(o: BenchOptions, log: Log): Promise<ScaleResult> {
  const missing = await scaleServersUnavailable();
  if (missing) throw new Error(`the scale-out benchmark needs ${missing}`);
  const date = new Date().toISOString();
  const loadAverageBefore = loadavg().map((v) => sig(v));
  const workers = o.workers[o.workers.length - 1] ?? 1;
  const problems: string[] = [];
  let pair: PostgresPair | undefined;
  let redis: PrivateRedis | undefined;
  // Ctrl-C: run.ts drops what is in pendingDrops; the private servers go the same way.
  const teardown = {
    kind: 'postgres' as const,
    url: 'private servers of the scale-out benchmark',
    drop: async () => {
      await redis?.stop();
      await pair?.destroy();
    },
  };
  pendingDrops.add(teardown);
  try {
    log('starting a private PostgreSQL primary');
    pair = await startPrimary();
    const seedRun = await seed({ kind: 'postgres', url: pair.primaryUrl, drop: async () => {} }, o.users);
    log(`seeded ${seedRun.users} users (${seedRun.rowsPerSecond} rows/s); adding a streaming replica`);
    await addReplica(pair);
    redis = await startRedis();
    const [version] = await pair.primary.query<{ v: string }>("select current_setting('server_version') as v");
    const servers: Record<string, string> = {
      postgres: `PostgreSQL ${version?.v} primary + streaming replica (pg_basebackup), private clusters on loopback ports, fsync=off, max_connections=60`,
      redis: `${(await redisVersion()) ?? 'redis-server'}, private, no persistence`,
    };
    const sample = await loadSample(pair.primaryUrl);
    const allIds = (
      await pair.primary.query<{ id: string }>('select id::text as id from users', [], BENCH_DATABASE)
    ).map((r) => r.id);
    const workloads: Record<string, ScaleWorkload> = {
      'get-by-id': { name: 'get-by-id', label: 'get by id', next: NEXT['get-by-id'](sample), cacheKind: 'id' },
      'get-by-email': {
        name: 'get-by-email',
        label: 'get by email',
        next: NEXT['get-by-email'](sample),
        cacheKind: 'email',
      },
      'get-by-id-any': {
        name: 'get-by-id-any',
        label: 'get by id, any user',
        next: () => ({ method: 'GET', path: `/api/v1/users/${pickFrom(allIds)}` }),
        cacheKind: 'id',
      },
    };
    const reads = [workloads['get-by-id'], workloads['get-by-email']] as ScaleWorkload[];
    const primaryUrl = pair.primaryUrl;
    const redisUrl = redis.url;
    const hot = `the main bench's sample: ${sample.ids.length} ids and ${sample.emails.length} emails at random places of the table`;
    const plans: ComparisonPlan[] = [
      {
        name: 'cache',
        title: 'Redis user cache vs none',
        baseline: { label: 'no Redis', instances: 1, databaseUrl: primaryUrl, env: { ...PLAIN } },
        variant: { label: 'REDIS_URL', instances: 1, databaseUrl: primaryUrl, env: { ...PLAIN, REDIS_URL: redisUrl } },
        workloads: [...reads, workloads['get-by-id-any'] as ScaleWorkload],
        notes: [
          `One instance on the primary; CACHE_TTL_MS at its default. Get by id/email pick from ${hot} (a hot set the cache holds after the warm-up); "any user" picks uniformly from all ${allIds.length} users, so a lookup hits only when the same user was read within CACHE_TTL_MS: the hit ratio depends on the request rate against the table size.`,
          "The bearer token's check (session and user) is cached too (kind `session`), so a hit saves about every database read of a request.",
        ],
      },
      {
        name: 'replica',
        title: 'reads through one replica vs the primary alone',
        baseline: { label: 'primary only', instances: 1, databaseUrl: primaryUrl, env: { ...PLAIN } },
        variant: {
          label: 'DATABASE_REPLICA_URLS',
          instances: 1,
          databaseUrl: primaryUrl,
          env: { ...PLAIN, DATABASE_REPLICA_URLS: pair.replicaUrl() },
        },
        workloads: reads,
        notes: [
          'One instance, no Redis. The replica runs on the same machine (and cores) as the primary, so it adds no CPU: the ratio shows what routing costs or saves here; on separate machines the replica would add its cores to the reads.',
          "The bearer token's check reads the session and the user from the primary (credentials are never read from a replica), so only the looked-up user comes from the replica: the read split below counts the transactions each server committed.",
        ],
      },
      {
        name: 'pgbouncer',
        title: 'PgBouncer (transaction pooling) vs direct',
        baseline: { label: 'direct', instances: 1, databaseUrl: primaryUrl, env: { ...PLAIN } },
        variant: { label: 'through PgBouncer', instances: 1, databaseUrl: '', env: { ...PLAIN } },
        workloads: reads,
        notes: [
          'One instance, no Redis; DATABASE_URL points at PgBouncer (pool_mode=transaction) in front of the same primary. PgBouncer is one more process on the same cores and one more network hop per query.',
        ],
        unavailable: pgbouncerUnavailable,
        prepare: async (plan) => {
          const bouncer = await startPgBouncer(pair as PostgresPair, workers);
          plan.variant.databaseUrl = bouncer.url;
          servers.pgbouncer = `${bouncer.version}, private, pool_mode=transaction, default_pool_size=${bouncer.poolSize} (WORKERS x DB_POOL_SIZE)`;
          return bouncer.stop;
        },
      },
      // Two instances vs one with the bench's WORKERS per instance, and (when that is more than 1) again with
      // WORKERS=1 per instance: there the second instance's process may find a core the first leaves idle.
      ...[...new Set([workers, 1])].map(
        (perInstance): ComparisonPlan => ({
          name: 'instances',
          title: `two instances vs one, WORKERS=${perInstance} each`,
          workers: perInstance,
          baseline: {
            label: 'one instance',
            instances: 1,
            databaseUrl: primaryUrl,
            env: { ...PLAIN, REDIS_URL: redisUrl },
          },
          variant: {
            label: 'two instances',
            instances: 2,
            databaseUrl: primaryUrl,
            env: { ...PLAIN, REDIS_URL: redisUrl },
          },
          workloads: reads,
          notes: [
            `WORKERS=${perInstance} per instance (${perInstance} vs ${2 * perInstance} service processes), both with Redis, over one database; the load generator spreads the same ${o.connections} connections evenly over the instances' ports (one autocannon with both URLs).${2 * perInstance > CORES ? ` On ${CORES} cores the second instance adds processes but no cores.` : ''}`,
          ],
        }),
      ),
    ];

    const comparisons: ComparisonResult[] = [];
    for (const plan of plans) {
      const why = await plan.unavailable?.();
      if (why) {
        log(`${plan.name}: skipped: ${why}`);
        comparisons.push(skippedResult(plan, why));
        continue;
      }
      await redis.flush();
      comparisons.push(await runComparison(plan, { o, workers: plan.workers ?? workers, log, problems, pair }));
    }
    return {
      date,
      command: o.command,
      service: serviceEntry().description,
      machine: machine(),
      loadAverageBefore,
      options: { users: o.users, duration: o.duration, rounds: o.rounds, workers, connections: o.connections },
      servers,
      seed: seedRun,
      comparisons,
      problems: [...new Set(problems)].slice(0, 50),
    };
  } finally {
    await teardown.drop().catch((error) => log(`could not stop the private servers: ${(error as Error).message}`));
    pendingDrops.delete(teardown);
  }
}

async function redisVersion(): Promise<string | undefined> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) =>
    execFile('redis-server', ['--version'], (error, stdout) =>
      resolve(error ? undefined : /v=([\d.]+)/.exec(stdout)?.[1]?.replace(/^/, 'Redis ')),
    ),
  );
}

function skippedResult(plan: ComparisonPlan, why: string): ComparisonResult {
  return {
    name: plan.name,
    title: plan.title,
    baseline: plan.baseline.label,
    variant: plan.variant.label,
    skipped: why,
    workloads: {},
    notes: plan.notes,
  };
}

interface RunContext {
  o: BenchOptions;
  workers: number;
  log: Log;
  problems: string[];
  pair: PostgresPair;
}

async function deploy(d: Deployment, workers: number): Promise<Deployed> {
  const children: Child[] = [];
  try {
    for (let i = 0; i < d.instances; i++) {
      const label = d.instances > 1 ? `${d.label} #${i + 1}` : d.label;
      children.push(await startService(d.databaseUrl, workers, 'bearer', { env: d.env, label }));
    }
  } catch (error) {
    for (const c of children) await c.stop().catch(() => {});
    throw error;
  }
  const first = children[0] as Child;
  // A token from one instance is good on the other: same JWT_SECRET, same database.
  return {
    children,
    target: { url: children.length === 1 ? first.url : children.map((c) => c.url), headers: first.headers },
  };
}

async function runComparison(plan: ComparisonPlan, ctx: RunContext): Promise<ComparisonResult> {
  const { o, workers, log } = ctx;
  // PostgreSQL's servers are not the benchmark's descendants (pg_ctl detaches them): named for the CPU meter.
  const postmasters = [ctx.pair.primary, ...(ctx.pair.replica ? [ctx.pair.replica] : [])].map((c) => c.postmasterPid());
  const cleanups: (() => Promise<void>)[] = [];
  const deployed: Deployed[] = [];
  try {
    if (plan.prepare) cleanups.push(await plan.prepare(plan));
    const baseline = await deploy(plan.baseline, workers);
    deployed.push(baseline);
    const variant = await deploy(plan.variant, workers);
    deployed.push(variant);
    log(
      `${plan.name}: ${plan.baseline.label} (pid ${baseline.children.map((c) => c.pid).join(', ')}) vs ${plan.variant.label} (pid ${variant.children.map((c) => c.pid).join(', ')}), WORKERS=${workers}`,
    );
    const load = async (what: string, side: Deployed, w: ScaleWorkload, duration = o.duration): Promise<ScaleLoad> => {
      const meter = cpuMeter(postmasters);
      const r = await runLoad({
        url: side.target.url,
        headers: side.target.headers,
        next: w.next,
        connections: o.connections,
        duration,
      });
      const cpu = meter();
      assertAll2xx(`${plan.name} ${what}`, r);
      if (cpu.otherBusy > 0.1)
        log(`${plan.name} ${what}: work outside the benchmark took ${Math.round(cpu.otherBusy * 100)}% of the cores`);
      return { ...r, ...cpu };
    };
    const urls = deployed.flatMap((d) => d.children.map((c) => c.url));
    const cache: Record<string, CacheSnapshot> = {};
    const measures: Record<string, Measure> = {};
    for (const w of plan.workloads) {
      measures[`baseline ${w.name}`] = () => load(`baseline ${w.name}`, baseline, w);
      measures[`variant ${w.name}`] = async () => {
        if (plan.name !== 'cache') return load(`variant ${w.name}`, variant, w);
        const variantUrls = variant.children.map((c) => c.url);
        const before = await cacheCounters(variantUrls, METRICS_TOKEN);
        const r = await load(`variant ${w.name}`, variant, w);
        const counts = cache[w.name] ?? {};
        cache[w.name] = counts;
        addDelta(counts, before, await cacheCounters(variantUrls, METRICS_TOKEN));
        return r;
      };
    }
    log(`${plan.name}: warm-up`);
    for (const w of plan.workloads)
      for (const side of [baseline, variant]) await load(`warm-up ${w.name}`, side, w, Math.min(1, o.duration));
    const settle = () => settleServices(urls);
    await settle();
    const groups = plan.workloads.map((w) => [`baseline ${w.name}`, `variant ${w.name}`]);
    const results = await runRounds(groups, measures, o.rounds, (m) => log(`${plan.name}: ${m}`), settle);
    const got = (key: string) => (results.get(key) ?? []) as ScaleLoad[];

    const workloadResults: Record<string, WorkloadComparison> = {};
    for (const w of plan.workloads) {
      const b = got(`baseline ${w.name}`);
      const v = got(`variant ${w.name}`);
      const counts = cache[w.name];
      workloadResults[w.name] = {
        label: w.label,
        baseline: scaleSeries(b),
        variant: scaleSeries(v),
        ratio: sig(median(v.map((r, i) => r.rps / (b[i]?.rps ?? Number.NaN)))),
        ...(counts ? { cache: counts, hitRatio: sig(hitRatio(counts[w.cacheKind])) } : {}),
      };
    }
    if (plan.name === 'replica') {
      const runs = plan.workloads.flatMap((w) =>
        (['baseline', 'variant'] as const).map((side) => ({
          w,
          side,
          run: () => load(`read split, ${side} ${w.name}`, side === 'baseline' ? baseline : variant, w),
          urls: (side === 'baseline' ? baseline : variant).children.map((c) => c.url),
        })),
      );
      const splits = await measureReadSplits(ctx, runs);
      runs.forEach(({ w, side }, i) => {
        const result = workloadResults[w.name] as WorkloadComparison;
        const split = splits[i] as ReadSplit;
        result.readSplit = { ...(result.readSplit ?? { baseline: split, variant: split }), [side]: split };
        log(
          `${plan.name}: read split, ${side} ${w.name}: ${(split.primaryTransactions / Math.max(1, split.requests)).toFixed(2)} transactions a request on the primary, ${(split.replicaTransactions / Math.max(1, split.requests)).toFixed(2)} on the replica`,
        );
      });
    }
    return {
      name: plan.name,
      title: plan.title,
      baseline: plan.baseline.label,
      variant: plan.variant.label,
      workers,
      workloads: workloadResults,
      notes: plan.notes,
    };
  } finally {
    for (const d of deployed)
      for (const c of d.children) {
        ctx.problems.push(...c.problems.map((p) => `${plan.name}, ${c.name}: ${p}`));
        await c.stop().catch(() => {});
      }
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
}

function scaleSeries(rounds: ScaleLoad[]): ScaleSeries {
  return {
    ...series(rounds),
    cpu: {
      machineBusy: sig(median(rounds.map((r) => r.machineBusy))),
      generatorCores: sig(median(rounds.map((r) => r.generatorCores))),
      otherBusy: sig(median(rounds.map((r) => r.otherBusy))),
    },
  };
}

/** Both servers' committed transactions in the benchmark database, and when they were read. */
async function counters(pair: PostgresPair): Promise<{ at: number; primary: number; replica: number }> {
  if (!pair.replica) throw new Error('no replica');
  return {
    at: performance.now(),
    primary: await committedTransactions(pair.primary),
    replica: await committedTransactions(pair.replica),
  };
}

/**
 * Transactions each server committed during one more load of each workload per side, read from pg_stat_database before
 * and after (waiting for the backends to publish their counters): the database's own view of where the reads
 * went, next to the service's own count (db_replica_reads_total). The services' background work (the replica probes: a query a server every 250 ms per process) is
 * measured over a quiet window first and subtracted.
 */
async function measureReadSplits(
  ctx: RunContext,
  loads: { run: () => Promise<ScaleLoad>; urls: string[] }[],
): Promise<ReadSplit[]> {
  await sleep(STATS_FLUSH_MS);
  const quiet = await counters(ctx.pair);
  await sleep(STATS_FLUSH_MS);
  let previous = await counters(ctx.pair);
  const quietSeconds = (previous.at - quiet.at) / 1000;
  const rate = {
    primary: (previous.primary - quiet.primary) / quietSeconds,
    replica: (previous.replica - quiet.replica) / quietSeconds,
  };
  const out: ReadSplit[] = [];
  for (const { run, urls } of loads) {
    const before = previous;
    const replicaReads = () => counterSum(urls, METRICS_TOKEN, 'db_replica_reads_total');
    const readsBefore = await replicaReads();
    const r = await run();
    const serviceReplicaReads = (await replicaReads()) - readsBefore;
    await sleep(STATS_FLUSH_MS);
    const after = await counters(ctx.pair);
    previous = after;
    const seconds = (after.at - before.at) / 1000;
    const background = { primary: Math.round(rate.primary * seconds), replica: Math.round(rate.replica * seconds) };
    const primaryTransactions = Math.max(0, after.primary - before.primary - background.primary);
    const replicaTransactions = Math.max(0, after.replica - before.replica - background.replica);
    out.push({
      requests: r.requests,
      primaryTransactions,
      replicaTransactions,
      background,
      serviceReplicaReads,
      replicaShare: sig(replicaTransactions / Math.max(1, primaryTransactions + replicaTransactions)),
    });
  }
  return out;
}

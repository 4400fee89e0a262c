/**
 * One database's benchmark: grow the table step by step measuring list latency at each size, then run every
 * workload against the service next to its limits for several rounds, then sample peak RSS and start-up time.
 */
import { type BenchDatabase, createBenchDatabase } from './databases.js';
import { measureDbLimit, measureHasher } from './limits.js';
import { measureListLatency } from './list-scaling.js';
import { assertAll2xx, type LoadResult, runLoad } from './load.js';
import type { BenchOptions, DbKind } from './options.js';
import { unreplayable } from './placeholders.js';
import { explainLists } from './plans.js';
import { type Child, createApiKey, peakRss, startHttpLimitServer, startService } from './processes.js';
import { type DbResult, machine, previousResult, type SizesResult, series, type WorkloadResult } from './results.js';
import { type Log, type Measure, runRounds } from './rounds.js';
import { loadSample } from './sample.js';
import { type SeedRun, seed } from './seed-db.js';
import { serviceEntry } from './service-build.js';
import { startupSeries } from './startup.js';
import { combined, median, sig } from './stats.js';
import { checkIssue13Targets, checkSizesTargets, checkTargets } from './targets.js';
import { traceDeepPage, traceUpdate } from './traced-sql.js';
import {
  type DbQuery,
  httpLimitRequests,
  MIXED_SHARES,
  mixedNext,
  NEXT,
  type Workload,
  workload,
  workloadNames,
} from './workloads.js';

const DB_QUERIES: DbQuery[] = ['by-id', 'by-email', 'list-shallow', 'list-deep', 'list-cursor', 'update'];

/** Table sizes for the latency-vs-size figures: 10k, 100k, 1M, 10M up to the requested size, and that size. */
export function tableSizes(users: number): number[] {
  return [...new Set([...[10_000, 100_000, 1_000_000, 10_000_000].filter((s) => s < users), users])];
}

/** Drops the databases of runs cut short (Ctrl-C). */
export const pendingDrops = new Set<BenchDatabase>();

export async function benchDatabase(kind: DbKind, o: BenchOptions, log: Log): Promise<DbResult | SizesResult> {
  const date = new Date().toISOString();
  const db = await createBenchDatabase(kind);
  pendingDrops.add(db);
  const children: Child[] = [];
  const problems: string[] = [];
  const collect = (c: Child) => problems.push(...c.problems.map((p) => `${c.name}: ${p}`));
  // The service the workloads of issue 4 run on: AUTH_REQUIRED=true with a bearer token, or open (--auth off).
  const mainAccess = o.auth === 'required' ? 'bearer' : 'open';
  try {
    // 1. List latency against table size, growing the table with the seed command.
    const seedRuns: SeedRun[] = [];
    const listScaling: DbResult['listScaling'] = [];
    let seeded = 0;
    for (const size of tableSizes(o.users)) {
      const run = await seed(db, size - seeded);
      seeded = size;
      seedRuns.push(run);
      log(`${kind}: seeded ${size} users (${run.rowsPerSecond} rows/s); list latency at this size`);
      const service = await startService(db.url, 1, mainAccess);
      try {
        listScaling.push({
          size,
          cases: await measureListLatency(
            service.url,
            await loadSample(db.url),
            Math.min(o.duration, 3),
            service.headers,
          ),
        });
      } finally {
        collect(service);
        await service.stop();
      }
    }
    if (o.only === 'list-scaling') {
      const sizes: Omit<SizesResult, 'targets'> = {
        kind: 'sizes',
        date,
        db: kind,
        command: o.command,
        service: serviceEntry().description,
        machine: machine(),
        options: { users: o.users, auth: o.auth },
        seed: seedRuns,
        listScaling,
        problems: [...new Set(problems)].slice(0, 50),
      };
      return { ...sizes, targets: checkSizesTargets(sizes) };
    }

    // 2. Every workload next to its limits, in alternating rounds.
    const sample = await loadSample(db.url);
    // Issue 13: the statements of the service's PATCH, traced once; the database update limit runs exactly these.
    // If the service's SQL changed in a way the limit cannot replay, the run goes on without it (update is then
    // compared with the HTTP limit alone, as before issue 13) and the report says why.
    const updateSql = await traceUpdate(db.url, sample.ids[0] as string).then(
      (traced) => traced.map((st) => st.sql),
      (error: Error) => {
        problems.push(`could not trace the service's update: ${error.message}`);
        return [];
      },
    );
    const noUpdateLimit = unreplayable(updateSql);
    if (noUpdateLimit) problems.push(`no database update limit this run: ${noUpdateLimit}`);
    const dbQueries = DB_QUERIES.filter((q) => q !== 'update' || !noUpdateLimit);
    log(`${kind}: the service's update runs ${updateSql.length} statements: ${updateSql.join('; ')}`);
    // The deep page's statement as the service builds it, for its database limit (traced-sql.ts).
    const deepPageSql = await traceDeepPage(db.url, sample.total).catch((error: Error) => {
      problems.push(`could not trace the service's deep page (its limit runs the deferred join): ${error.message}`);
      return undefined;
    });
    if (deepPageSql) log(`${kind}: the service's deep page runs ${deepPageSql.join('; ')}`);
    const plans = await explainLists(kind, db.url, sample).catch((error: Error) => {
      problems.push(`EXPLAIN of the list queries failed: ${error.message}`);
      return undefined;
    });
    const workers = o.workers[o.workers.length - 1] ?? 1;
    const start = async (child: Promise<Child>) => {
      const c = await child;
      children.push(c);
      return c;
    };
    // Two services with the same WORKERS on the same database: AUTH_REQUIRED=true (bearer tokens and API keys)
    // and AUTH_REQUIRED=false (no credentials), for issue 9's comparison whichever --auth the workloads use.
    const secured = await start(startService(db.url, workers, 'bearer'));
    const open = await start(startService(db.url, workers, 'open'));
    // Issue 10: the secured service again with Prometheus metrics collected, for what metrics cost get-by-id.
    const metered = await start(startService(db.url, workers, 'bearer', { metrics: true }));
    const service = mainAccess === 'bearer' ? secured : open;
    const apiKeyHeaders = await createApiKey(secured);
    const fewer = new Map<number, Child>();
    for (const w of o.workers.filter((w) => w !== workers)) {
      fewer.set(w, await start(startService(db.url, w, mainAccess)));
    }
    const httpLimit = await start(startHttpLimitServer(workers));
    log(
      `${kind}: services pid ${secured.pid} (WORKERS=${workers}) and ${open.pid} (WORKERS=${workers}, AUTH_REQUIRED=false); workloads with --auth ${o.auth}; ${o.rounds} round(s) of ${o.duration} s per measurement`,
    );

    /** Every load must get 2xx answers only (a 401 or 404 is cheap and would inflate the figures): else stop. */
    const load = (
      what: string,
      target: { url: string; headers: Record<string, string> },
      next: Workload['next'],
      connections = o.connections,
      duration = o.duration,
    ) =>
      runLoad({ url: target.url, headers: target.headers, next, connections, duration }).then((r) =>
        assertAll2xx(`${kind} ${what}`, r),
      );
    const workloads = workloadNames(o.auth)
      .map((name) => workload(name, sample, o.auth))
      .map((w) => (w.limit.db && !dbQueries.includes(w.limit.db) ? { ...w, limit: { http: w.limit.http } } : w));
    const targetOf = (w: Workload) =>
      w.credential === 'none'
        ? open
        : w.credential === 'api-key'
          ? { url: secured.url, headers: apiKeyHeaders }
          : secured;
    const httpNext = httpLimitRequests(sample);
    const readConnections = Math.max(1, Math.round(o.connections / 4));
    const measures: Record<string, Measure> = {
      'http-user': () => load('http-user', httpLimit, httpNext['http-user']),
      'http-page': () => load('http-page', httpLimit, httpNext['http-page']),
      hasher: () => measureHasher(o.duration),
      'create+reads': async () => {
        const [create, reads] = await Promise.all([
          load('create+reads/create', service, NEXT.create(sample)),
          load('create+reads/reads', service, NEXT['get-by-id'](sample), readConnections),
        ]);
        return { create, reads };
      },
      'login+reads': async () => {
        const [login, reads] = await Promise.all([
          load('login+reads/login', service, NEXT.login(sample)),
          load('login+reads/reads', service, NEXT['get-by-id'](sample), readConnections),
        ]);
        return { login, reads };
      },
      mixed: () => load('mixed', service, mixedNext(sample)),
    };
    // A deep offset page keeps its worker busy for tens of ms (SQLite runs it in the worker's own thread), so
    // the default 16 connections only queue behind it, and the queue's wait trips the overload guard (503 past
    // 200 ms of event-loop delay: the 1M SQLite run of 2026-11-24 got 4805 of them). One connection per worker
    // measures the same throughput without the queue; its database limit runs at the same concurrency.
    const connectionsFor = (name: string) =>
      name === 'list-offset-deep' || name === 'db-list-deep' ? workers : o.connections;
    for (const w of workloads) measures[w.name] = () => load(w.name, targetOf(w), w.next, connectionsFor(w.name));
    measures['get-by-id-metrics'] = () => load('get-by-id-metrics', metered, NEXT['get-by-id'](sample));
    for (const q of dbQueries)
      measures[`db-${q}`] = () =>
        measureDbLimit(
          db.url,
          q,
          sample,
          workers,
          connectionsFor(`db-${q}`),
          o.duration,
          q === 'update' ? updateSql : q === 'list-deep' ? deepPageSql : undefined,
        );
    for (const [w, child] of fewer)
      measures[`get-by-id@${w}`] = () => load(`get-by-id@${w}`, child, NEXT['get-by-id'](sample));

    log(`${kind}: warm-up`);
    const warm = Math.min(1, o.duration);
    for (const w of workloads) await load(`warm-up ${w.name}`, targetOf(w), w.next, connectionsFor(w.name), warm);
    for (const next of Object.values(httpNext)) await load('warm-up http', httpLimit, next, o.connections, warm);
    for (const child of [...fewer.values(), metered])
      await load('warm-up get-by-id', child, NEXT['get-by-id'](sample), o.connections, warm);

    const groups = [
      [
        'get-by-id',
        'get-by-id-open',
        'get-by-id-bearer',
        'get-by-id-api-key',
        'get-by-id-metrics',
        'http-user',
        'db-by-id',
        ...[...fewer.keys()].map((w) => `get-by-id@${w}`),
      ],
      ['get-by-email', 'get-by-email-open', 'db-by-email'],
      ['list-offset-shallow', 'http-page', 'db-list-shallow'],
      ['list-offset-deep', 'db-list-deep'],
      ['list-cursor', 'db-list-cursor'],
      ['search'],
      ['update', 'db-update'],
      ['create', 'hasher'],
      ['create+reads'],
      ['login'],
      ['login+reads'],
      ['mixed'],
    ];
    const settle = () => settleServices([secured.url, open.url, metered.url, ...[...fewer.values()].map((c) => c.url)]);
    const results = await runRounds(groups, measures, o.rounds, log, settle);
    const rss = peakRss(service.pid);
    for (const c of children) collect(c);

    // 3. Assemble: medians, and each workload's ratio to its limit within the same round.
    const got = (key: string): LoadResult[] => results.get(key) ?? [];
    const limits: DbResult['limits'] = {};
    for (const key of ['http-user', 'http-page', ...dbQueries.map((q) => `db-${q}`), 'hasher'])
      limits[key] = series(got(key));
    const workloadResults: Record<string, WorkloadResult> = {};
    for (const w of workloads) {
      const rounds = got(w.name);
      const { http, db: q, hasher } = w.limit;
      const limitOf = (i: number) => {
        if (hasher) return got('hasher')[i]?.rps ?? Number.NaN;
        const h = got(http ?? '')[i]?.rps ?? Number.NaN;
        return q ? combined(h, got(`db-${q}`)[i]?.rps ?? Number.NaN) : h;
      };
      const limitRps = rounds.map((_, i) => limitOf(i));
      workloadResults[w.name] = {
        label: w.label,
        credential: w.credential,
        ...series(rounds),
        limit: hasher ? 'hasher' : q ? `${http} + db-${q}` : (http ?? ''),
        limitRps: sig(median(limitRps), 4),
        ratio: sig(median(rounds.map((r, i) => r.rps / (limitRps[i] ?? Number.NaN)))),
      };
    }
    // Issue 9: get by id without credentials (AUTH_REQUIRED=false), with a bearer token, with an API key.
    const [openKey, bearerKey] =
      o.auth === 'required' ? ['get-by-id-open', 'get-by-id'] : ['get-by-id', 'get-by-id-bearer'];
    const perRound = (key: string) => sig(median(got(key).map((r, i) => r.rps / (got(openKey)[i]?.rps ?? Number.NaN))));
    const access: DbResult['access'] = {
      workers,
      open: series(got(openKey)),
      bearer: series(got(bearerKey)),
      apiKey: series(got('get-by-id-api-key')),
      bearerRatio: perRound(bearerKey),
      apiKeyRatio: perRound('get-by-id-api-key'),
    };
    // Issue 10: get by id (bearer) with metrics collected vs the same service without them.
    const bearerWithout = o.auth === 'required' ? 'get-by-id' : 'get-by-id-bearer';
    const observability: DbResult['observability'] = {
      workers,
      metricsOff: series(got(bearerWithout)),
      metricsOn: series(got('get-by-id-metrics')),
      metricsRatio: sig(
        median(got('get-by-id-metrics').map((r, i) => r.rps / (got(bearerWithout)[i]?.rps ?? Number.NaN))),
      ),
    };
    const fewest = o.workers[0] ?? 1;
    const getById: Record<string, DbResult['limits'][string]> = { [workers]: series(got('get-by-id')) };
    for (const w of fewer.keys()) getById[w] = series(got(`get-by-id@${w}`));
    const scalingRatio =
      fewest === workers
        ? null
        : sig(median(got('get-by-id').map((r, i) => r.rps / (got(`get-by-id@${fewest}`)[i]?.rps ?? Number.NaN))));

    for (const c of children.splice(0)) await c.stop();
    const startup = kind === 'sqlite' ? await startupSeries(o.rounds, log) : null;

    const result: Omit<DbResult, 'targets'> = {
      date,
      db: kind,
      command: o.command,
      service: serviceEntry().description,
      machine: machine(),
      options: {
        users: o.users,
        duration: o.duration,
        rounds: o.rounds,
        workers: o.workers,
        connections: o.connections,
        auth: o.auth,
      },
      seed: seedRuns,
      workloads: workloadResults,
      access,
      observability,
      limits,
      createWithReads: {
        create: series(got('create+reads/create')),
        reads: series(got('create+reads/reads')),
        readConnections,
      },
      loginWithReads: {
        login: series(got('login+reads/login')),
        reads: series(got('login+reads/reads')),
        readConnections,
      },
      mixed: { ...series(got('mixed')), shares: { ...MIXED_SHARES } },
      ...(noUpdateLimit ? {} : { updateSql }),
      ...(deepPageSql ? { deepPageSql } : {}),
      ...(plans ? { plans } : {}),
      scaling: { workers: o.workers, getById, ratio: scalingRatio },
      listScaling,
      startup,
      rss: { processes: rss, maxPeakMb: Math.max(...rss.map((p) => p.peakMb)) },
      problems: [...new Set(problems)].slice(0, 50),
    };
    return {
      ...result,
      targets: checkTargets(result),
      targets13: checkIssue13Targets(result, previousResult(kind, o.users, date)),
    };
  } finally {
    for (const c of children) await c.stop().catch(() => {});
    await db.drop().catch((error) => log(`could not drop the ${kind} benchmark database: ${(error as Error).message}`));
    pendingDrops.delete(db);
  }
}

/**
 * Resolves once every service answers /health within 50 ms four times in a row on fresh connections (so the
 * cluster's round-robin reaches every worker), i.e. has no backlog left; at most 120 s.
 */
export async function settleServices(urls: string[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (const url of urls) {
    let fast = 0;
    while (fast < 4 && Date.now() < deadline) {
      const started = performance.now();
      const ok = await fetch(`${url}/health`, { headers: { connection: 'close' } }).then(
        (r) => r.ok,
        () => false,
      );
      fast = ok && performance.now() - started < 50 ? fast + 1 : 0;
      if (fast === 0) await new Promise((r) => setTimeout(r, 100));
    }
  }
}

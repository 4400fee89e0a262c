/**
 * Schema-driven fuzzing (issue 7): every operation in the service's own /openapi.json gets generated requests
 * (fast-check) with valid and malformed path parameters, query parameters and bodies: wrong types, missing
 * fields, oversized strings, huge numbers, NUL / surrogates / RTL / combining marks / emoji, deep nesting,
 * duplicate keys, injection strings, forged and mangled cursors, forged tokens, wrong content types.
 * Every answer is checked by support/fuzz-oracle.ts; at the end the sentinel users and their personas must be
 * unchanged in the database.
 *
 * Run:   node --import tsx --test test/fuzz.api.test.ts         (in services/user-service)
 * Vary:  FUZZ_SEED=<n> (default printed in the output), FUZZ_RUNS=<requests per database> (default 3000)
 * A failure lists each distinct defect once, with how often it occurred, a curl command that reproduces it
 * against a running service (after a first pass that drops whatever the failure does not need), and the seed.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import fc from 'fast-check';
import { usersTable } from '../src/users/user.table.js';
import { type OpenApiDoc, type Operation, operationsOf, SchemaChecker } from './support/fuzz-openapi.js';
import { checkResponse, type Finding, type OracleContext, oracleContext } from './support/fuzz-oracle.js';
import {
  type BuiltRequest,
  buildRequest,
  type RequestSpec,
  requestArb,
  toCurl,
  type UserEntry,
  type World,
} from './support/fuzz-requests.js';
import { JsonEntries, type ValueContext } from './support/fuzz-values.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const DEFAULT_SEED = 20_260_607;
const SEED = Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
if (!Number.isSafeInteger(SEED) || !Number.isSafeInteger(RUNS) || RUNS < 1) {
  throw new Error(`FUZZ_SEED and FUZZ_RUNS must be integers (FUZZ_RUNS >= 1): got ${SEED} and ${RUNS}`);
}
/** The JWT secret test/support/test-app.ts builds the app with; confirmed at set-up before it is relied on. */
const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret';
/** Extra requests spent shrinking each distinct failure. */
const MINIMIZE_BUDGET = 40;
/** FUZZ_TRACE=<text>: print every request whose operation contains the text, with its answer. */
const TRACE = process.env.FUZZ_TRACE;

/** Each database's answers in order (status and request), to compare the databases with each other. */
const answers = new Map<string, { status: number; op: string; curl: string }[]>();

interface Group {
  finding: Finding;
  count: number;
  spec: RequestSpec;
  request: BuiltRequest;
  index: number;
}

onEachDatabase('fuzzing every operation of /openapi.json', (tdb) => {
  let t: TestApp;
  let doc: OpenApiDoc;
  let ops: Operation[];
  let world: World;
  let checker: SchemaChecker;
  let oracle: OracleContext;
  let snapshot: string;
  let initialSnapshot: string;
  let initialViews: Map<string, unknown>;
  let lastError: string | undefined;
  let literals: Set<string>;
  const bodyLimit = 1_048_576;

  const inject = async (built: BuiltRequest) => {
    lastError = undefined;
    return t.app.inject({
      method: built.method as 'GET',
      url: built.url,
      headers: built.headers,
      ...(built.payload !== undefined ? { payload: built.payload } : {}),
    });
  };

  const api = async (method: string, url: string, payload?: unknown, token?: string) => {
    const res = await t.app.inject({
      method: method as 'GET',
      url,
      ...(payload !== undefined ? { payload: payload as object } : {}),
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
    if (res.statusCode >= 300) throw new Error(`set-up: ${method} ${url} -> ${res.statusCode} ${res.body}`);
    return res.body ? res.json() : undefined;
  };

  const createUser = async (
    email: string,
    password: string,
    extra: Record<string, unknown>,
    personas: Record<string, unknown>[],
  ): Promise<UserEntry> => {
    const user = await api('POST', '/api/v1/users', { email, password, ...extra });
    const entry: UserEntry = { id: user.id, email: user.email, username: user.username, password, personas: [] };
    for (const persona of personas)
      entry.personas.push((await api('POST', `/api/v1/users/${user.id}/personas`, persona)).id);
    return entry;
  };

  const login = async (entry: UserEntry): Promise<string> =>
    (await api('POST', '/api/v1/auth/login', { username: entry.email, password: entry.password })).access_token;

  /** The sentinel rows exactly as stored, hashes included. */
  const readSentinels = async (): Promise<string> => {
    const ids = world.sentinels.map((u) => u.id);
    const users = await t.database.kysely
      .selectFrom('users')
      .selectAll()
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();
    const personas = await t.database.kysely
      .selectFrom('personas')
      .selectAll()
      .where('user_id', 'in', ids)
      .orderBy('id')
      .execute();
    return JSON.stringify({ users, personas }, (_k, v) => (v instanceof Date ? v.toISOString() : v), 1);
  };

  /** The sentinels as the API shows them, for the oracle to compare every later answer with. */
  const readSentinelViews = async () => {
    for (const entry of world.sentinels) {
      oracle.sentinelViews.set(entry.id, await api('GET', `/api/v1/users/${entry.id}`));
      for (const id of entry.personas) {
        oracle.sentinelViews.set(id, await api('GET', `/api/v1/users/${entry.id}/personas/${id}`));
      }
    }
  };

  before(async () => {
    t = await openTestApp(tdb, { bodyLimitBytes: bodyLimit });
    t.app.addHook('onError', async (_request, _reply, error) => {
      lastError = `${(error as { code?: string }).code ?? error.name}: ${error.message.split('\n')[0]}`;
    });
    doc = (await t.app.inject('/openapi.json')).json();
    ops = operationsOf(doc);
    checker = new SchemaChecker();
    oracle = oracleContext(doc, ops, checker);
    literals = new Set(ops.flatMap((op) => op.literals));

    // Sentinels: ASCII ones (the search check needs them), LIKE wildcards, unicode, an inactive one.
    const sentinels = [
      await createUser(
        'sentinel.ada@example.com',
        'sentinel-pass-0',
        { username: 'sentinel_ada', full_name: 'Ada Sentinel' },
        [
          { name: 'Home', relation_type: 'family' },
          { name: 'Work', relation_type: 'colleague', description: 'At the office' },
        ],
      ),
      await createUser(
        'sentinel.100%_off@example.com',
        'sentinel-pass-1',
        { username: 'under_score.dot-dash', full_name: '100% _real_ \\ name' },
        [{ name: '%_', relation_type: 'x', description: "' or 1=1 --", status: 'paused' }],
      ),
      await createUser('sentinel.zoe@example.com', 'sentinel-pass-2', { full_name: 'Zoë Ünïcode \u{1F642} عربى' }, [
        { name: 'Ünï', relation_type: 'friend' },
        { name: 'home', relation_type: 'family' },
      ]),
      await createUser('sentinel.off@example.com', 'sentinel-pass-3', { username: 'sentinel.off' }, []),
    ];
    await api('POST', `/api/v1/users/${sentinels[3]?.id}/deactivate`);
    const temps: UserEntry[] = [];
    for (let i = 0; i < 6; i++) {
      temps.push(
        await createUser(`temp${i}@example.com`, `temp-pass-${i}`, { username: `temp_${i}`, full_name: `Temp ${i}` }, [
          { name: 'Alpha', relation_type: 'a' },
          { name: 'Beta', relation_type: 'b' },
        ]),
      );
    }
    const principal = await createUser('principal@example.com', 'principal-pass', { username: 'principal' }, []);
    const superuser = await createUser('root@example.com', 'root-pass-123', { username: 'root' }, []);
    await t.database.repository(usersTable).update(superuser.id, { is_superuser: true });
    world = {
      sentinels,
      temps,
      principals: [principal, superuser],
      tokens: [await login(principal), await login(superuser)],
      cursors: [],
      tokenSecret: undefined,
    };
    // Cursors the service really issued, for truncating and mixing up.
    for (const url of [
      '/api/v1/users?limit=1',
      '/api/v1/users?limit=2&sort=-email',
      `/api/v1/users/${sentinels[0]?.id}/personas?limit=1`,
    ]) {
      const cursor = (await api('GET', url))?.next_cursor;
      if (typeof cursor === 'string')
        world.cursors.push({ text: cursor, table: url.includes('personas') ? 'personas' : 'users' });
    }
    // Forged tokens are only meaningful when the suite signs with the app's secret: check that it does.
    const me = ops.find((op) => op.secured && op.method === 'GET' && op.pathParams.length === 0);
    if (me) {
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const unsigned = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: principal.id, exp: Math.floor(Date.now() / 1000) + 600 })}`;
      const token = `${unsigned}.${createHmac('sha256', TEST_TOKEN_SECRET).update(unsigned).digest('base64url')}`;
      const res = await t.app.inject({ method: 'GET', url: me.path, headers: { authorization: `Bearer ${token}` } });
      if (res.statusCode === 200) world.tokenSecret = TEST_TOKEN_SECRET;
    }
    await readSentinelViews();
    snapshot = await readSentinels();
    initialSnapshot = snapshot;
    initialViews = new Map(oracle.sentinelViews);
  });

  after(async () => {
    await t?.close();
  });

  /** Keeps the world in step with what a response created or changed. */
  const learn = async (op: Operation, spec: RequestSpec, req: BuiltRequest, status: number, json: any) => {
    if (typeof json?.next_cursor === 'string') {
      world.cursors.push({ text: json.next_cursor, table: op.literals[op.literals.length - 1] ?? '' });
      if (world.cursors.length > 50) world.cursors.shift();
    }
    if (status === 201 && typeof json?.id === 'string') {
      if (typeof json.user_id === 'string') world.temps.find((u) => u.id === json.user_id)?.personas.push(json.id);
      else {
        const body = (req.parsedBody ?? {}) as Record<string, unknown>;
        world.temps.push({
          id: json.id,
          email: json.email,
          username: json.username ?? null,
          password: typeof body.password === 'string' ? body.password : '',
          personas: [],
        });
      }
    }
    if (status === 204 && op.method === 'DELETE') {
      const [userId, personaId] = op.pathParams.map((p) => req.pathValues[p.name]);
      if (personaId !== undefined) {
        const entry = world.temps.find((u) => u.id === userId);
        if (entry) entry.personas = entry.personas.filter((id) => id !== personaId);
      } else world.temps = world.temps.filter((u) => u.id !== userId);
    }
    if (status === 200 && (op.method === 'PUT' || op.method === 'PATCH') && typeof json?.email === 'string') {
      const entry = world.temps.find((u) => u.id === json.id);
      if (entry) {
        entry.email = json.email;
        entry.username = json.username ?? null;
        const body = (req.parsedBody ?? {}) as Record<string, unknown>;
        if (typeof body.password === 'string') entry.password = body.password;
      }
    }
    // A password change by a logged-in principal: follow it, and log in again.
    if (status === 204 && op.secured && op.method === 'POST') {
      const body = (req.parsedBody ?? {}) as Record<string, unknown>;
      const who = spec.auth === 'superuser' ? 1 : 0;
      const entry = world.principals[who];
      if (
        entry &&
        typeof body.new_password === 'string' &&
        ['principal', 'superuser', 'lowercase-scheme'].includes(spec.auth)
      ) {
        // Change it back, so the requests generated with the original password keep getting past the check.
        const original = entry.password;
        entry.password = body.new_password;
        const token = await login(entry);
        await api('POST', op.path, { current_password: body.new_password, new_password: original }, token);
        entry.password = original;
        world.tokens[who] = await login(entry);
      }
    }
  };

  /** Throw-away users (and their personas) are deleted by the fuzzing: keep a few around for the next requests. */
  let made = 0;
  const replenish = async () => {
    while (world.temps.length < 6) {
      made++;
      world.temps.push(
        await createUser(`temp-r${made}@example.com`, `temp-pass-r${made}`, { username: `temp_r${made}` }, [
          { name: 'Alpha', relation_type: 'a' },
        ]),
      );
    }
    for (const entry of world.temps.slice(0, 6)) {
      if (entry.personas.length === 0) {
        made++;
        const created = await t.app.inject({
          method: 'POST',
          url: `/api/v1/users/${entry.id}/personas`,
          payload: { name: `Refill ${made}`, relation_type: 'r' },
        });
        if (created.statusCode === 201) entry.personas.push(created.json().id);
        else entry.personas.push('00000000-0000-7000-8000-000000000000');
      }
    }
  };

  it(`answers ${RUNS} generated requests (seed ${SEED}) with documented statuses and bodies, no 5xx, no leaks`, {
    timeout: 600_000,
  }, async (ctx) => {
    const started = Date.now();
    const valueContext: ValueContext = {
      emails: [...world.sentinels, ...world.temps, ...world.principals].map((u) => u.email),
      usernames: [...world.sentinels, ...world.temps, ...world.principals].flatMap((u) =>
        u.username ? [u.username] : [],
      ),
      passwords: [...world.sentinels, ...world.temps, ...world.principals].map((u) => u.password),
      // Pieces of what exists: search terms that match, and persona names that differ only in case from one
      // the user has (the rule must be the same on every database).
      fragments: [
        'ada',
        'SENTINEL',
        '100%',
        '_real_',
        '\\',
        'zoë',
        'temp',
        '%',
        '_',
        '\u0000',
        '@example.com',
        'o',
        'ALPHA',
        'beta',
        'HOME',
      ],
      // The principal's own password most often: a password change is made with the principal's token.
      credentials: [
        ...world.principals.flatMap((u): [string, string][] => [
          [u.email, u.password],
          [u.email, u.password],
          [u.username ?? u.email, u.password],
        ]),
        ...[...world.sentinels, ...world.temps].map((u): [string, string] => [u.email, u.password]),
        ...world.sentinels.flatMap((u): [string, string][] =>
          u.username ? [[u.username.toUpperCase(), u.password]] : [],
        ),
      ],
    };
    // A share per operation that grows with its number of inputs (GET /users has eight query parameters,
    // GET /health none), each operation with its own seed derived from SEED; the samples are interleaved.
    const inputs = ops.map(
      (op) =>
        2 +
        op.pathParams.length +
        op.queryParams.length +
        Object.keys(op.body?.schema.properties ?? {}).length +
        // Paged lists get more: their cursors are the richest input.
        (op.queryParams.some((p) => p.name === 'after') ? 4 : 0),
    );
    const total = inputs.reduce((a, b) => a + b, 0);
    const shares = inputs.map((n) => Math.ceil((RUNS * n) / total));
    const samples = ops.map((op, i) =>
      fc.sample(requestArb(op, i, valueContext), { seed: SEED + i, numRuns: shares[i] as number }),
    );
    const sequence: RequestSpec[] = [];
    for (let n = 0; sequence.length < RUNS; n++) {
      for (const list of samples) if (sequence.length < RUNS && list[n]) sequence.push(list[n] as RequestSpec);
    }

    const groups = new Map<string, Group>();
    const statusCounts = new Map<string, number>();
    const run = async (spec: RequestSpec) => {
      const op = ops[spec.op] as Operation;
      const req = buildRequest(spec, op, world, checker, literals, bodyLimit);
      const res = await inject(req);
      const findings = checkResponse(op, req, res, oracle, lastError);
      let json: any;
      try {
        json = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        json = undefined;
      }
      // No mutation may touch a sentinel: those that name one only ever carry input that must be refused, the
      // others name throw-away users. Checked after each one, so the report names the request that did it.
      if (op.mutating && (await readSentinels()) !== snapshot) {
        findings.push({
          kind: 'sentinel-changed',
          key: `sentinel-changed ${res.statusCode} ${op.key}`,
          message: req.sentinelIds.length
            ? `the request changed a sentinel in the database although ${req.mustRefuse}`
            : 'the request changed a sentinel in the database without naming one',
        });
        // Report each change once: the new state is the reference from now on.
        snapshot = await readSentinels();
        await readSentinelViews();
      }
      await learn(op, spec, req, res.statusCode, json);
      await replenish();
      return { op, req, res, findings };
    };

    const log: { status: number; op: string; curl: string }[] = [];
    answers.set(tdb.kind, log);
    for (const [index, spec] of sequence.entries()) {
      const { op, req, res, findings } = await run(spec);
      log.push({ status: res.statusCode, op: op.key, curl: toCurl(req) });
      if (TRACE && op.key.includes(TRACE)) {
        console.log(`[${index}] ${res.statusCode} ${toCurl(req).slice(0, 400)}\n    -> ${res.body.slice(0, 300)}`);
      }
      const statusKey = `${op.key} ${res.statusCode}`;
      statusCounts.set(statusKey, (statusCounts.get(statusKey) ?? 0) + 1);
      for (const finding of findings) {
        const group = groups.get(finding.key);
        if (group) {
          group.count++;
          // Keep the shortest example of each defect.
          if (toCurl(req).length < toCurl(group.request).length)
            Object.assign(group, { spec, request: req, finding, index });
        } else groups.set(finding.key, { finding, count: 1, spec, request: req, index });
      }
    }
    const elapsed = Date.now() - started;

    // Shrink each failure: drop whatever it does not need, one piece at a time, while the same defect shows.
    for (const group of groups.values()) {
      let budget = MINIMIZE_BUDGET;
      let improved = true;
      while (improved && budget > 0) {
        improved = false;
        for (const candidate of smaller(group.spec)) {
          if (budget-- <= 0) break;
          const { req, findings } = await run(candidate);
          const same = findings.find((f) => f.key === group.finding.key);
          if (same && toCurl(req).length <= toCurl(group.request).length) {
            Object.assign(group, { spec: candidate, request: req, finding: same });
            improved = true;
            break;
          }
        }
      }
    }

    const summary = [...statusCounts.entries()].sort().map(([k, n]) => `  ${k}: ${n}`);
    ctx.diagnostic(
      `${tdb.kind}: ${sequence.length} requests in ${(elapsed / 1000).toFixed(1)} s, seed ${SEED} (FUZZ_SEED), ${ops.length} operations`,
    );
    ctx.diagnostic(`statuses:\n${summary.join('\n')}`);
    const report = [...groups.values()]
      .sort((a, b) => a.finding.key.localeCompare(b.finding.key))
      .map(
        (g, i) =>
          `#${i + 1} ${g.finding.key} (x${g.count}, first as request ${g.index})\n   ${g.finding.message}\n   ${toCurl(g.request)}`,
      );
    assert.equal(
      groups.size,
      0,
      `${groups.size} distinct defects on ${tdb.kind} (FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} reproduces the run):\n${report.join('\n')}`,
    );
  });

  it('left the sentinel users and their personas unchanged in the database', async () => {
    assert.equal(await readSentinels(), initialSnapshot, 'a sentinel user or persona changed in the database');
    for (const entry of world.sentinels) {
      const res = await t.app.inject(`/api/v1/users/${entry.id}`);
      assert.equal(res.statusCode, 200, `sentinel ${entry.email} is gone`);
      assert.deepEqual(res.json(), initialViews.get(entry.id));
    }
  });
});

// The same seed sends the same requests to every database: they must get the same statuses ("behaves the same
// on every supported database"). After a first difference the worlds drift apart (a 201 on one database adds a
// throw-away user the other does not have), so only the first few differences are shown.
it('answers the same statuses on every database', (ctx) => {
  const kinds = [...answers.keys()];
  if (kinds.length < 2) {
    ctx.skip('fewer than two databases ran');
    return;
  }
  const [first, ...rest] = kinds as [string, ...string[]];
  const reference = answers.get(first) ?? [];
  const differences: string[] = [];
  for (const kind of rest) {
    const other = answers.get(kind) ?? [];
    for (let i = 0; i < Math.min(reference.length, other.length) && differences.length < 5; i++) {
      const a = reference[i];
      const b = other[i];
      if (a && b && a.status !== b.status) {
        differences.push(`request ${i}, ${a.op}: ${first} ${a.status}, ${kind} ${b.status}\n   ${b.curl}`);
      }
    }
  }
  assert.equal(
    differences.length,
    0,
    `statuses differ between databases (FUZZ_SEED=${SEED}):\n${differences.join('\n')}`,
  );
});

/** Smaller variants of a request: one query parameter, header, body field or option fewer. */
function* smaller(spec: RequestSpec): Generator<RequestSpec> {
  for (let i = 0; i < spec.query.length; i++) yield { ...spec, query: spec.query.filter((_, j) => j !== i) };
  if (spec.rawQuery !== null) yield { ...spec, rawQuery: null };
  if (spec.auth !== 'none') yield { ...spec, auth: 'none' };
  if (spec.accept !== null) yield { ...spec, accept: null };
  if (spec.requestId !== null) yield { ...spec, requestId: null };
  if (spec.contentType !== undefined) yield { ...spec, contentType: undefined };
  const body = spec.body;
  if (body.kind === 'json' && body.value !== null && typeof body.value === 'object' && !Array.isArray(body.value)) {
    const entries = Object.entries(body.value);
    if (entries.length > 0 && Object.getPrototypeOf(body.value) === Object.prototype) {
      for (const [key] of entries) {
        const { [key]: _dropped, ...rest } = body.value as Record<string, unknown>;
        yield { ...spec, body: { kind: 'json', value: rest } };
      }
    }
  }
  if (body.kind === 'json' && body.value instanceof JsonEntries) {
    const entries = body.value.entries;
    for (let i = 0; i < entries.length; i++) {
      yield { ...spec, body: { kind: 'json', value: new JsonEntries(entries.filter((_, j) => j !== i)) } };
    }
  }
  if (body.kind !== 'none') yield { ...spec, body: { kind: 'none' } };
}

// Traces (OpenTelemetry) end to end: the real service as a child process exporting OTLP/HTTP JSON to a receiver
// in this test. SQLite only: the spans come from the data layer's query events, which are the same on every
// database (db.system aside), so one database proves the wiring.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../src/config.js';

const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./support/loaded-modules.mjs', import.meta.url));
const ADMIN_EMAIL = 'trace-admin@example.com';
const ADMIN_PASSWORD = 'Tracing-Walnut-Harbor-62';
const JWT_SECRET = 'tracing-test-secret-0123456789abcdef0123456789';

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: AnyValue }[];
  status?: { code?: number };
}
const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

function attr(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.boolValue;
}

/** A stand-in OTLP/HTTP collector: keeps every POST /v1/traces body. */
class Receiver {
  readonly bodies: string[] = [];
  private server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') this.bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
  spans(): OtlpSpan[] {
    const out: OtlpSpan[] = [];
    for (const body of this.bodies) {
      const parsed = JSON.parse(body) as {
        resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of parsed.resourceSpans) for (const ss of rs.scopeSpans) out.push(...ss.spans);
    }
    return out;
  }
  resources(): { key: string; value: AnyValue }[][] {
    return this.bodies.flatMap((body) =>
      (
        JSON.parse(body) as { resourceSpans: { resource: { attributes: { key: string; value: AnyValue }[] } }[] }
      ).resourceSpans.map((rs) => rs.resource.attributes),
    );
  }
  /** Polls until `found` returns something (spans are batched: they arrive a moment after the response). */
  async waitFor<T>(what: string, found: (spans: OtlpSpan[]) => T | undefined, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = found(this.spans());
      if (result !== undefined) return result;
      if (Date.now() > deadline) {
        throw new Error(
          `no ${what} within ${timeoutMs} ms; got: ${this.spans()
            .map((s) => s.name)
            .join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

interface Running {
  child: ChildProcess;
  base: string;
  stdout: () => string;
  output: () => string;
}

/** Starts `node --import tsx src/main.ts` (one process) with only the OTEL_* variables given here. */
async function start(env: Record<string, string>): Promise<Running> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')));
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', PRELOAD, 'src/main.ts'], {
    cwd: SERVICE_DIR,
    env: {
      ...inherited,
      HOST: '127.0.0.1',
      PORT: '0',
      WORKERS: '1',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      JWT_SECRET,
      FIRST_SUPERUSER_EMAIL: ADMIN_EMAIL,
      FIRST_SUPERUSER_PASSWORD: ADMIN_PASSWORD,
      // No load shedding: tsx compiling on a busy machine can stall the first event-loop sample past the limit.
      OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${stderr}`)), 30_000);
    child.stderr?.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${stderr}`));
    });
  });
  return { child, base, stdout: () => stdout, output: () => stdout + stderr };
}

function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

const hex = (bytes: number) =>
  Array.from({ length: bytes }, () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0'),
  ).join('');

async function login(
  base: string,
  headers: Record<string, string> = {},
  username = ADMIN_EMAIL,
  password = ADMIN_PASSWORD,
) {
  return fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ username, password }),
  });
}

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The service's log lines for one request, once its access line (written after the response) has arrived. */
async function linesOf(running: Running, requestId: string | null): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = logLines(running.stdout()).filter((line) => line.reqId === requestId);
    if (lines.some((line) => line.msg === 'request')) return lines;
    if (Date.now() > deadline) throw new Error(`no access line for ${requestId}:\n${running.stdout()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function loadedOtel(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^exit$/m, 'the preload wrote its report at exit');
  return text.split('\n').filter((line) => line.includes('@opentelemetry'));
}

describe('traces (OpenTelemetry) from the service process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-trace-'));
  const receiver = new Receiver();
  let endpoint = '';
  before(async () => {
    endpoint = await receiver.start();
  });
  after(async () => {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports a SERVER span per request under the caller traceparent, with query and password-hash child spans; logs carry its trace id', async () => {
    const modules = join(dir, 'on-modules.txt');
    const running = await start({
      DATABASE_URL: `sqlite:///${join(dir, 'on.db')}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_SERVICE_NAME: 'user-service-under-test',
      LOADED_MODULES_FILE: modules,
      // One hash at a time, one waiting: a burst of sign-ins gets 503s (a clean way to see a 5xx span).
      PASSWORD_HASH_CONCURRENCY: '1',
      PASSWORD_HASH_QUEUE_MAX: '1',
    });
    const secrets: string[] = [ADMIN_PASSWORD, ADMIN_EMAIL, JWT_SECRET];
    try {
      // 1. Sign in under the caller's trace: a password.verify span and the user's lookup.
      const loginTrace = hex(16);
      const loginParent = hex(8);
      const signedIn = await login(running.base, { traceparent: `00-${loginTrace}-${loginParent}-01` });
      assert.equal(signedIn.status, 200, await signedIn.clone().text());
      const tokens = (await signedIn.json()) as { access_token: string; refresh_token: string };
      secrets.push(tokens.access_token, tokens.refresh_token);
      const loginRequestId = signedIn.headers.get('x-request-id');
      const loginResponseTrace = signedIn.headers.get('traceresponse');
      assert.match(loginResponseTrace ?? '', new RegExp(`^00-${loginTrace}-[0-9a-f]{16}-01$`));

      // 2. Read a user by id with a bearer token: the route template names the span.
      const me = await fetch(`${running.base}/api/v1/auth/me`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
      const { id } = (await me.json()) as { id: string };
      const getTrace = hex(16);
      const getParent = hex(8);
      const got = await fetch(`${running.base}/api/v1/users/${id}`, {
        headers: { authorization: `Bearer ${tokens.access_token}`, traceparent: `00-${getTrace}-${getParent}-01` },
      });
      assert.equal(got.status, 200);
      const getRequestId = got.headers.get('x-request-id');

      // 3. A burst of sign-ins (unknown user: no account gets locked) until one is refused with 503.
      const wrongPassword = 'Not-The-Password-9931';
      secrets.push(wrongPassword);
      let overloaded: Response | undefined;
      for (let round = 0; round < 5 && !overloaded; round++) {
        const burst = await Promise.all(
          Array.from({ length: 8 }, () => login(running.base, {}, 'nobody@example.com', wrongPassword)),
        );
        overloaded = burst.find((res) => res.status === 503);
        await Promise.all(burst.map((res) => res.arrayBuffer()));
      }

      const loginSpan = await receiver.waitFor('login span', (spans) =>
        spans.find((s) => s.traceId === loginTrace && s.kind === SERVER),
      );
      assert.equal(loginSpan.name, 'POST /api/v1/auth/login');
      assert.equal(loginSpan.parentSpanId, loginParent, 'child of the incoming traceparent');
      assert.equal(loginResponseTrace, `00-${loginTrace}-${loginSpan.spanId}-01`, 'traceresponse names the span');
      assert.equal(attr(loginSpan, 'http.request.method'), 'POST');
      assert.equal(attr(loginSpan, 'http.route'), '/api/v1/auth/login');
      assert.equal(attr(loginSpan, 'http.response.status_code'), 200);
      assert.equal(attr(loginSpan, 'url.path'), '/api/v1/auth/login');
      assert.equal(attr(loginSpan, 'url.scheme'), 'http');
      assert.equal(attr(loginSpan, 'server.port'), Number(new URL(running.base).port));
      assert.equal(attr(loginSpan, 'request.id'), loginRequestId);
      assert.equal(attr(loginSpan, 'user_agent.original'), 'node');
      assert.notEqual(loginSpan.status?.code, STATUS_ERROR);

      const verifySpan = await receiver.waitFor('password.verify span', (spans) =>
        spans.find((s) => s.traceId === loginTrace && s.name === 'password.verify'),
      );
      assert.equal(verifySpan.parentSpanId, loginSpan.spanId, 'the hash span is a child of the request span');
      assert.equal(attr(verifySpan, 'password.scheme'), 'argon2id');
      const loginQueries = receiver.spans().filter((s) => s.traceId === loginTrace && s.kind === CLIENT);
      assert.ok(loginQueries.length > 0, 'sign-in runs queries');
      for (const q of loginQueries)
        assert.equal(q.parentSpanId, loginSpan.spanId, `${q.name} is a child of the request`);

      const getSpan = await receiver.waitFor('get-by-id span', (spans) =>
        spans.find((s) => s.traceId === getTrace && s.kind === SERVER),
      );
      assert.equal(getSpan.name, 'GET /api/v1/users/:id', 'named by the route template, never the concrete path');
      assert.equal(getSpan.parentSpanId, getParent);
      assert.equal(attr(getSpan, 'http.route'), '/api/v1/users/:id');
      assert.equal(attr(getSpan, 'url.path'), `/api/v1/users/${id}`);
      assert.equal(attr(getSpan, 'http.response.status_code'), 200);
      assert.equal(attr(getSpan, 'request.id'), getRequestId);
      const userSelect = await receiver.waitFor('SELECT users span', (spans) =>
        spans.find((s) => s.traceId === getTrace && s.kind === CLIENT && s.name === 'SELECT users'),
      );
      assert.equal(userSelect.parentSpanId, getSpan.spanId, 'query spans are children of the request span');
      assert.equal(attr(userSelect, 'db.system'), 'sqlite');
      assert.equal(attr(userSelect, 'db.system.name'), 'sqlite');
      assert.equal(attr(userSelect, 'db.operation.name'), 'SELECT');
      assert.equal(attr(userSelect, 'db.collection.name'), 'users');
      assert.match(String(attr(userSelect, 'db.query.text')), /^select .*\?/i, 'SQL with placeholders');
      // Within 5 ms: the SDK anchors a live span's clock to Date.now() (whole ms) when it starts, while a query span
      // is placed after the fact from performance.timeOrigin + performance.now(); the two clocks agree only to
      // about a millisecond (and drift apart as the wall clock is slewed).
      const skew = 5_000_000n;
      assert.ok(
        BigInt(userSelect.startTimeUnixNano) >= BigInt(getSpan.startTimeUnixNano) - skew &&
          BigInt(userSelect.endTimeUnixNano) <= BigInt(getSpan.endTimeUnixNano) + skew,
        'the query span lies within the request span',
      );
      for (const s of receiver.spans().filter((s) => s.traceId === getTrace && s.kind === CLIENT)) {
        assert.equal(s.parentSpanId, getSpan.spanId);
        assert.doesNotMatch(String(attr(s, 'db.query.text')), new RegExp(id), 'no parameter value in the SQL text');
      }

      if (overloaded) {
        const errorSpan = await receiver.waitFor('503 span', (spans) =>
          spans.find((s) => s.kind === SERVER && attr(s, 'http.response.status_code') === 503),
        );
        assert.equal(errorSpan.status?.code, STATUS_ERROR, '5xx marks the span as an error');
        assert.equal(attr(errorSpan, 'error.type'), '503');
      } else {
        process.stderr.write('note: no sign-in was refused with 503 in 5 bursts; the 5xx span check did not run\n');
      }

      const resource = receiver.resources()[0] ?? [];
      const resourceAttr = (key: string) => resource.find((a) => a.key === key)?.value.stringValue;
      assert.equal(resourceAttr('service.name'), 'user-service-under-test');
      assert.match(resourceAttr('service.version') ?? '', /^\d+\.\d+\.\d+/);

      // No secret and no parameter value anywhere in what was exported.
      const exported = receiver.bodies.join('\n');
      for (const secret of secrets)
        assert.ok(!exported.includes(secret), `exported spans contain ${secret.slice(0, 12)}...`);
      assert.doesNotMatch(exported, /\$argon2/, 'no password hash');

      // The request's log lines carry its trace and span ids.
      const loginLines = await linesOf(running, loginRequestId);
      const getLines = await linesOf(running, getRequestId);
      for (const line of loginLines) {
        assert.equal(line.trace_id, loginTrace);
        assert.equal(line.span_id, loginSpan.spanId);
      }
      for (const line of getLines) assert.equal(line.trace_id, getTrace);
    } finally {
      assert.equal(await stop(running.child), 0, running.output());
    }
    assert.ok(
      loadedOtel(modules).some((line) => line.includes('@opentelemetry/sdk-trace-base')),
      'the module report sees the SDK when tracing is on (so its silence below means something)',
    );
  });

  it('with no OTEL_* variable set, loads no OpenTelemetry SDK module and adds no trace header or log field', async () => {
    const modules = join(dir, 'off-modules.txt');
    const running = await start({ DATABASE_URL: `sqlite:///${join(dir, 'off.db')}`, LOADED_MODULES_FILE: modules });
    try {
      const signedIn = await login(running.base, { traceparent: `00-${hex(16)}-${hex(8)}-01` });
      assert.equal(signedIn.status, 200, await signedIn.clone().text());
      assert.equal(signedIn.headers.get('traceresponse'), null);
      const lines = await linesOf(running, signedIn.headers.get('x-request-id'));
      for (const line of lines) assert.equal(line.trace_id, undefined);
    } finally {
      assert.equal(await stop(running.child), 0, running.output());
    }
    const loaded = loadedOtel(modules);
    assert.deepEqual(
      loaded.filter((line) => !line.includes('@opentelemetry/api/')),
      [],
      'no OpenTelemetry SDK module is loaded (prom-client may load @opentelemetry/api, the no-op API)',
    );
  });

  it('OTEL_TRACES_EXPORTER=none turns tracing off even with an endpoint set: nothing is exported', async () => {
    const before = receiver.bodies.length;
    const modules = join(dir, 'none-modules.txt');
    const running = await start({
      DATABASE_URL: `sqlite:///${join(dir, 'none.db')}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      LOADED_MODULES_FILE: modules,
    });
    try {
      assert.equal((await login(running.base)).status, 200);
    } finally {
      assert.equal(await stop(running.child), 0, running.output());
    }
    assert.equal(receiver.bodies.length, before, 'nothing reached the receiver');
    assert.deepEqual(
      loadedOtel(modules).filter((line) => !line.includes('@opentelemetry/api/')),
      [],
    );
  });
});

describe('tracing configuration', () => {
  const base = { DATABASE_URL: 'sqlite::memory:' };
  it('is off unless an exporter or an OTLP endpoint is configured', () => {
    assert.equal(loadConfig(base).tracing, undefined);
    assert.equal(loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'none' }).tracing, undefined);
    assert.equal(
      loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing,
      undefined,
    );
    assert.equal(
      loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing,
      undefined,
    );
  });
  it('turns on with an endpoint, or with otlp/console named; service name defaults to user-service', () => {
    assert.deepEqual(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).tracing, {
      exporters: ['otlp'],
      serviceName: 'user-service',
    });
    assert.deepEqual(
      loadConfig({ ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }).tracing?.exporters,
      ['otlp'],
    );
    assert.deepEqual(
      loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'console,otlp', OTEL_SERVICE_NAME: 'users-eu' }).tracing,
      { exporters: ['console', 'otlp'], serviceName: 'users-eu' },
    );
  });
  it('refuses an exporter it does not have, and gRPC', () => {
    assert.throws(() => loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'zipkin' }), ConfigError);
    assert.throws(
      () => loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
      /OTEL_EXPORTER_OTLP_PROTOCOL=grpc/,
    );
  });
});

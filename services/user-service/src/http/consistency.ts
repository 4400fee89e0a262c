/**
 * Read-your-writes when reads may be served by a read replica (DATABASE_REPLICA_URLS; see the data layer's
 * replication/consistency.ts). Registered only when the database has replicas; without them no hook runs.
 *
 * - A response to a request that wrote carries `X-Consistency-Token`: the primary's replication position
 *   after the writes committed, sealed by the server (AES-GCM: neither forgeable nor readable). A client that sends it back in the same header on a
 *   later request (to any process or instance sharing JWT_SECRET) reads only from a replica that has
 *   replayed that far, else from the primary: it never reads older data than its own acknowledged write.
 * - A signed-in session or an API key that wrote is remembered too (the newest position per session or key,
 *   for `REMEMBER_MS`, or longer when replicas may lag longer), so a client that ignores the header still
 *   reads its writes: in this process's memory, and in Redis when REDIS_URL is set (then on every process and
 *   instance; one more Redis GET per authenticated request). Without Redis, other processes do not share that
 *   memory: with WORKERS > 1 or several instances, send the header back.
 * - Within one request, every read after a write goes to the primary.
 * A token that is not one this deployment sealed (altered, or sealed with another JWT_SECRET) sends the
 * client's reads to the primary: always fresh, never an error.
 */
import type { Consistency, ConsistencyScope } from '@user-service/data';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export const CONSISTENCY_HEADER = 'x-consistency-token';
/**
 * How long a principal's last write position is remembered at least; longer when a replica may lag longer and
 * still serve (Consistency.stalenessBoundMs, from DATABASE_REPLICA_MAX_LAG_MS): forgotten earlier, the
 * principal's reads could go to a replica that does not show its write yet.
 */
const REMEMBER_MS = 60_000;
/** Most principals remembered at once per process; the oldest are forgotten first. */
const REMEMBER_MAX = 50_000;

/** Where positions are shared between processes (Redis), when they are: both calls never throw. */
export interface SharedPositions {
  get(key: string): Promise<string | undefined>;
  /** Keeps the newest: a position older than the one stored does not replace it. */
  set(key: string, position: bigint, token: string, ttlMs: number): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    consistencyScope?: ConsistencyScope;
  }
}

/** The newest write position of each recent principal, oldest first (a Map keeps insertion order). */
class RecentWriters {
  private readonly positions = new Map<string, { position: bigint; at: number }>();

  constructor(private readonly rememberMs: number) {}

  get(key: string, now: number): bigint | undefined {
    const entry = this.positions.get(key);
    if (!entry) return undefined;
    if (now - entry.at > this.rememberMs) {
      this.positions.delete(key);
      return undefined;
    }
    return entry.position;
  }

  set(key: string, position: bigint, now: number): void {
    this.positions.delete(key);
    this.positions.set(key, { position, at: now });
    if (this.positions.size > REMEMBER_MAX) {
      const oldest = this.positions.keys().next().value;
      if (oldest !== undefined) this.positions.delete(oldest);
    }
  }
}

function principalKey(request: FastifyRequest): string | undefined {
  const principal = request.principal;
  if (!principal) return undefined;
  if (principal.kind === 'user') return `s:${principal.sessionId}`;
  if (principal.kind === 'api_key') return `k:${principal.apiKey.id}`;
  return undefined;
}

/**
 * The hooks. Must be registered before the access layer (its onRequest hook authenticates), so that the scope is
 * the current one for everything the request does afterwards.
 */
export function registerConsistency(app: FastifyInstance, consistency: Consistency, shared?: SharedPositions): void {
  const rememberMs = Math.max(REMEMBER_MS, consistency.stalenessBoundMs);
  const recent = new RecentWriters(rememberMs);
  // Not async: enterWith must run in the request's own async context, which the following hooks continue.
  app.addHook('onRequest', (request, _reply, done) => {
    const header = request.headers[CONSISTENCY_HEADER];
    request.consistencyScope = consistency.enter(typeof header === 'string' ? header : undefined);
    done();
  });
  // After authentication: what this session or key wrote recently, even without the header.
  if (shared) {
    app.addHook('preHandler', async (request) => {
      const key = principalKey(request);
      if (key === undefined) return;
      const scope = request.consistencyScope;
      scope?.require(recent.get(key, Date.now()));
      // The token as another process stored it (sealed like the header: a value planted in Redis buys nothing).
      scope?.require(consistency.decode(await shared.get(key)));
    });
  } else {
    app.addHook('preHandler', (request, _reply, done) => {
      const key = principalKey(request);
      if (key !== undefined) request.consistencyScope?.require(recent.get(key, Date.now()));
      done();
    });
  }
  app.addHook('onSend', async (request, reply, payload) => {
    const scope = request.consistencyScope;
    if (!scope?.wrote) return payload;
    // A failure here (the primary went away after the write) must not turn an acknowledged write into an
    // error: without a token the client's next reads may lag, and the remembered position below covers the
    // process it talks to.
    const token = await consistency.token(scope).catch(() => undefined);
    if (token === undefined) return payload;
    reply.header(CONSISTENCY_HEADER, token);
    const key = principalKey(request);
    const position = consistency.decode(token);
    if (key !== undefined && position !== undefined) {
      recent.set(key, position, Date.now());
      await shared?.set(key, position, token, rememberMs);
    }
    return payload;
  });
}

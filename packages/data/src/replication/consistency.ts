import { AsyncLocalStorage } from 'node:async_hooks';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

/**
 * Read-your-writes across read replicas. A consistency scope is one client's view for the length of one request:
 * - `required`: the replication position the client's reads must show, from the token it sent back (the
 *   position of its last acknowledged write); a replica serves its reads only once it has replayed that far;
 * - `wrote`: set by the first statement that writes on the primary; from then on every read of the scope goes
 *   to the primary (it may read what it has just written, which no replica may show yet).
 * After the request, `Database.consistencyToken(scope)` turns a scope that wrote into a token for the client:
 * the primary's position read after the writes committed, signed.
 */
export class ConsistencyScope {
  wrote = false;
  constructor(public required: bigint | undefined = undefined) {}

  /** Raises the position this scope's reads must show (a token remembered for the client's session, say). */
  require(position: bigint | undefined): void {
    if (position !== undefined && (this.required === undefined || position > this.required)) this.required = position;
  }
}

const scopes = new AsyncLocalStorage<ConsistencyScope>();

/** The scope of the code running now, if any. */
export function currentScope(): ConsistencyScope | undefined {
  return scopes.getStore();
}

/** Runs `fn` in `scope`. */
export function runInScope<T>(scope: ConsistencyScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/**
 * Makes `scope` the current one for the rest of the calling async context (what an HTTP framework's
 * request hook can do, where there is no single function to wrap around the request).
 */
export function enterScope(scope: ConsistencyScope): void {
  scopes.enterWith(scope);
}

const WRITES = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode']);

/** Whether a statement may write: DML, and raw SQL unless it plainly starts with SELECT (DDL, function calls...). */
function writes(node: RootOperationNode): boolean {
  if (WRITES.has(node.kind)) return true;
  if (node.kind !== 'RawNode') return false;
  const first = (node as unknown as { sqlFragments: readonly string[] }).sqlFragments[0] ?? '';
  return !/^\s*select\b/i.test(first);
}

/**
 * A Kysely plugin on the primary: any statement that may write marks the current scope, so the reads after
 * it in the same request go to the primary. Statements run outside a scope (background jobs) mark nothing.
 */
export class WriteMarker implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const scope = scopes.getStore();
    if (scope && !scope.wrote && writes(args.node)) scope.wrote = true;
    return args.node;
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

const MAC_BYTES = 12;

/**
 * Consistency tokens go to clients and come back in a request header, so they are signed (HMAC-SHA256 under
 * a key derived from the same server secret as list cursors): a client cannot make up a position. A forged
 * one could only send its own reads to the primary, but a signature makes even that impossible and keeps
 * tokens opaque. Format: `<position, base36>.<mac, base64url>`.
 */
export class ConsistencyTokenCodec {
  private readonly key: Buffer;

  constructor(secret?: string) {
    this.key =
      secret === undefined
        ? randomBytes(32)
        : createHmac('sha256', secret).update('user-service/data consistency token v1').digest();
  }

  encode(position: bigint): string {
    const body = position.toString(36);
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  /** The position in a token this codec signed, or undefined for anything else (absent, altered, malformed). */
  decode(token: string | undefined): bigint | undefined {
    if (typeof token !== 'string' || token.length > 64) return undefined;
    const [body, sum, extra] = token.split('.');
    if (!body || !sum || extra !== undefined || !/^[0-9a-z]{1,14}$/.test(body)) return undefined;
    const given = Buffer.from(sum, 'base64url');
    if (given.length !== MAC_BYTES || !timingSafeEqual(given, this.mac(body))) return undefined;
    let position = 0n;
    for (const digit of body) position = position * 36n + BigInt(Number.parseInt(digit, 36));
    return position;
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
  }
}

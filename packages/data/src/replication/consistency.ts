import { AsyncLocalStorage } from 'node:async_hooks';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
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

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** 12-byte nonce, the 8-byte position encrypted, 16-byte tag: 36 bytes, 48 characters of base64url. */
const TOKEN_LENGTH = 48;

/**
 * Consistency tokens go to clients and come back in a request header, so they are sealed with AES-256-GCM
 * under a key derived from the same server secret as list cursors: a client can neither make up a position
 * (the tag fails) nor read one (a WAL position tells how much the whole database writes, which is not the
 * client's business). A forged token could only send its own reads to the primary; the seal makes even that
 * impossible. Each token has a random nonce, so two tokens for one position differ.
 */
export class ConsistencyTokenCodec {
  private readonly key: Buffer;

  constructor(secret?: string) {
    this.key =
      secret === undefined
        ? randomBytes(32)
        : createHmac('sha256', secret).update('user-service/data consistency token v2').digest();
  }

  encode(position: bigint): string {
    const iv = randomBytes(IV_BYTES);
    const plain = Buffer.alloc(8);
    plain.writeBigUInt64BE(position);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
  }

  /** The position in a token this codec sealed, or undefined for anything else (absent, altered, malformed). */
  decode(token: string | undefined): bigint | undefined {
    if (typeof token !== 'string' || token.length !== TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) {
      return undefined;
    }
    const bytes = Buffer.from(token, 'base64url');
    if (bytes.length !== IV_BYTES + 8 + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(IV_BYTES + 8));
      const plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, IV_BYTES + 8)), decipher.final()]);
      return plain.readBigUInt64BE();
    } catch {
      return undefined;
    }
  }
}

import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidCursorError } from './errors.js';

/**
 * The position after the last row of a page: its sort value and primary key, under one ordering. `value` is null
 * only for a nullable sort column whose page ended among the nulls (they sort last in both directions).
 */
export interface CursorPosition {
  column: string;
  direction: 'asc' | 'desc';
  value: string | number | boolean | null;
  id: string;
}

const MAC_BYTES = 16;

/**
 * Keyset cursors are handed to clients and come back as query parameters, so they are authenticated: the body
 * (sort column, direction, last value, last id) is followed by an HMAC-SHA256 over the table, the list's
 * filters and the body, under a server key. A cursor a client wrote or edited, or one issued for another
 * table or another set of filters, is refused before any of its content is used. (Issue 7: an unkeyed
 * checksum let a forged cursor sort by `hashed_password` and read hashes back one character at a time.)
 *
 * The key must be the same in every process that serves one list (WORKERS > 1, several instances): the
 * service derives it from JWT_SECRET. Without a key, one is drawn at random per codec, which suits tests and
 * one-shot CLI commands.
 */
export class CursorCodec {
  /** A KeyObject, imported once: an HMAC under a raw Buffer imports the key again on every call. */
  private readonly key: KeyObject;

  constructor(key?: string | Buffer) {
    this.key = createSecretKey(
      key === undefined
        ? randomBytes(32)
        : createHmac('sha256', key).update('user-service/data keyset cursor v1').digest(),
    );
  }

  encode(table: string, scope: string, position: CursorPosition): string {
    const body = Buffer.from(
      JSON.stringify([position.column, position.direction, position.value, position.id]),
    ).toString('base64url');
    return `${body}.${this.mac(table, scope, body).toString('base64url')}`;
  }

  /** The position in `cursor`, or InvalidCursorError when it was not issued by this key for this table and scope. */
  decode(table: string, scope: string, cursor: string): CursorPosition {
    const [body, sum, extra] = cursor.split('.');
    if (!body || !sum || extra !== undefined || !this.verify(table, scope, body, sum)) {
      throw new InvalidCursorError('Invalid cursor: it was not issued for this list and query, or has been altered');
    }
    const parsed: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    // Only this codec writes bodies it signs, so this shape always holds; checked anyway as a second line.
    if (!Array.isArray(parsed) || parsed.length !== 4) throw new InvalidCursorError('Invalid cursor');
    const [column, direction, value, id] = parsed as unknown[];
    if (
      typeof column !== 'string' ||
      (direction !== 'asc' && direction !== 'desc') ||
      (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) ||
      typeof id !== 'string'
    ) {
      throw new InvalidCursorError('Invalid cursor');
    }
    return { column, direction, value: value as CursorPosition['value'], id };
  }

  private mac(table: string, scope: string, body: string): Buffer {
    // One update of the joined text: the same bytes (and MAC) as an update per part, one native call instead of
    // five. Table names and JSON scopes hold no NUL, so the separators keep the parts apart.
    return createHmac('sha256', this.key).update(`${table}\0${scope}\0${body}`).digest().subarray(0, MAC_BYTES);
  }

  private verify(table: string, scope: string, body: string, sum: string): boolean {
    const given = Buffer.from(sum, 'base64url');
    return given.length === MAC_BYTES && timingSafeEqual(given, this.mac(table, scope, body));
  }
}

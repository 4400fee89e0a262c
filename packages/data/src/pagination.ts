import { createHash } from 'node:crypto';
import { InvalidCursorError } from './errors.js';

/** The position after the last row of a page: its sort value and primary key, under one ordering. */
export interface CursorPosition {
  column: string;
  direction: 'asc' | 'desc';
  value: string | number | boolean;
  id: string;
}

// The checksum is not a secret: cursors stay valid across processes and restarts. It catches a cursor that
// was edited or truncated by hand, which then gets a clear error instead of a silently wrong page.
function checksum(table: string, body: string): string {
  return createHash('sha256').update(table).update('\0').update(body).digest('base64url').slice(0, 12);
}

export function encodeCursor(table: string, position: CursorPosition): string {
  const body = Buffer.from(JSON.stringify([position.column, position.direction, position.value, position.id])).toString(
    'base64url',
  );
  return `${body}.${checksum(table, body)}`;
}

export function decodeCursor(table: string, cursor: string): CursorPosition {
  const [body, sum, extra] = cursor.split('.');
  if (!body || !sum || extra !== undefined || checksum(table, body) !== sum) {
    throw new InvalidCursorError('Invalid cursor: it was not issued for this list or has been altered');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('Invalid cursor: it cannot be decoded');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw new InvalidCursorError('Invalid cursor: unexpected content');
  const [column, direction, value, id] = parsed as unknown[];
  if (
    typeof column !== 'string' ||
    (direction !== 'asc' && direction !== 'desc') ||
    !['string', 'number', 'boolean'].includes(typeof value) ||
    typeof id !== 'string'
  ) {
    throw new InvalidCursorError('Invalid cursor: unexpected content');
  }
  return { column, direction, value: value as CursorPosition['value'], id };
}

/** Which column each placeholder of a traced SQL statement binds (the update limit and the plans bind by it). */

/**
 * The column each placeholder of a statement binds, in order: `"col" = ?` (SET and WHERE), an INSERT's column
 * list, `limit ?` (as `limit`), `offset ?` (as `offset`). Placeholders are `?` or `$n`.
 */
export function placeholderColumns(sql: string): string[] {
  const insert = /^\s*insert\s+into\s+\S+\s*\(([^)]*)\)\s*values\s*\(([^)]*)\)/i.exec(sql);
  const out: string[] = [];
  if (insert) {
    const cols = (insert[1] ?? '').split(',').map((c) => c.trim().replace(/^["`]|["`]$/g, ''));
    const vals = (insert[2] ?? '').split(',').map((v) => v.trim());
    vals.forEach((v, i) => {
      if (/^(\?|\$\d+)$/.test(v)) out.push(cols[i] ?? `#${i}`);
    });
  }
  const rest = insert ? sql.slice(insert[0].length) : sql;
  // `"col" = ?`, `limit ?`, `offset ?`, and a value named in a select list (`? as "skip"`: the CTE of a deep page
  // read from the far end, sql-repository.ts).
  for (const m of rest.matchAll(
    /(?:["`](\w+)["`]\s*=\s*|\b(limit|offset)\s+)(\?|\$\d+)|(?:\?|\$\d+)\s+as\s+["`](\w+)["`]/gi,
  ))
    out.push((m[1] ?? m[2] ?? m[4] ?? '').toLowerCase());
  const total = (sql.match(/\?|\$\d+/g) ?? []).length;
  if (out.length !== total)
    throw new Error(`update limit: cannot tell which column each of the ${total} placeholders binds in: ${sql}`);
  return out;
}

/** The columns the update limit (db-limit.ts) knows how to bind a value for. */
export const UPDATE_BINDABLE = new Set([
  'id',
  'limit',
  'full_name',
  'updated_at',
  'created_at',
  'event',
  'actor_user_id',
  'target_user_id',
  'actor_api_key_id',
  'ip',
  'user_agent',
  'request_id',
  'detail',
]);

/** Why the update limit cannot replay these statements, or undefined when it can. */
export function unreplayable(statements: readonly string[]): string | undefined {
  if (statements.length === 0) return 'no statements traced';
  try {
    for (const sql of statements) {
      const unknown = placeholderColumns(sql).find((c) => !UPDATE_BINDABLE.has(c));
      if (unknown) return `the service's SQL binds "${unknown}", which db-limit.ts does not know: ${sql}`;
    }
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

import type { Page } from '@user-service/data';

/** A page of a list with the number of matches, as every list endpoint answers it. */
export interface PageWithTotal<T> {
  items: T[];
  total: number;
  skip: number;
  limit: number;
  next_cursor: string | null;
}

/** Reads the page and counts the matches at once: the one place a list and its total are put together. */
export async function pageWithTotal<T>(
  page: Promise<Page<T>>,
  total: Promise<number>,
  paging: { skip: number; limit: number },
): Promise<PageWithTotal<T>> {
  const [{ items, nextCursor }, count] = await Promise.all([page, total]);
  return { items, total: count, skip: paging.skip, limit: paging.limit, next_cursor: nextCursor };
}

/**
 * Reads the page first and counts only when the page cannot tell the total: a page shorter than `limit` (and not
 * past the end) holds the last match, so the total is `skip` plus its length. For a search, where counting is a
 * scan of the table (MariaDB has no substring index; SQLite's FTS serves only rare terms), a term with few
 * matches then costs one scan instead of two running side by side; a page that is full is counted as before.
 * Offset pages only: a page after a cursor has skip 0 whatever came before it.
 */
export async function pageThenTotal<T>(
  page: Promise<Page<T>>,
  total: () => Promise<number>,
  paging: { skip: number; limit: number },
  /** The count's cap: a total at or past it is left to the count, which reports it capped. */
  atMost = Number.POSITIVE_INFINITY,
): Promise<PageWithTotal<T>> {
  const { items, nextCursor } = await page;
  const complete =
    items.length < paging.limit && (items.length > 0 || paging.skip === 0) && paging.skip + items.length < atMost;
  const count = complete ? paging.skip + items.length : await total();
  return { items, total: count, skip: paging.skip, limit: paging.limit, next_cursor: nextCursor };
}

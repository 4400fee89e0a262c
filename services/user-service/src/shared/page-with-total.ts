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

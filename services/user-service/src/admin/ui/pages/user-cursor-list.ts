import { useState } from 'preact/hooks';
import { ApiError } from '../api-client';
import { reportIfTransient } from '../connection-banner';
import { type Resource, useResource } from '../use-resource';

export interface CursorPage<T> {
  items: T[];
  next: string | null;
}

export interface CursorList<T> extends Resource<CursorPage<T>> {
  /** The first page and every older page loaded after it. */
  items: T[];
  /** The cursor of the page after the last one shown; null when there is no more. */
  next: string | null;
  loadMore: () => void;
  loadingMore: boolean;
  /** Why the last "more" failed (a transient fault goes to the banner instead). */
  moreError: string | undefined;
}

/**
 * A list read in keyset pages and shown as one growing list ("Older events"): the first page reloads with
 * `deps`, and the pages added after it are dropped then, since they continued a first page that is gone.
 */
export function useCursorList<T>(
  load: (after: string | undefined, signal?: AbortSignal) => Promise<CursorPage<T>>,
  deps: unknown[],
): CursorList<T> {
  const first = useResource((signal) => load(undefined, signal), deps);
  const [more, setMore] = useState<{ after: CursorPage<T>; items: T[]; next: string | null }>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<string>();

  // Pages loaded after an older first page do not belong to the current one.
  const extra = first.data && more?.after === first.data ? more : undefined;
  const items = [...(first.data?.items ?? []), ...(extra?.items ?? [])];
  const next = extra ? extra.next : (first.data?.next ?? null);

  const loadMore = () => {
    const base = first.data;
    if (!base || !next || loadingMore) return;
    setLoadingMore(true);
    setMoreError(undefined);
    load(next).then(
      (page) => {
        setMore({ after: base, items: [...(extra?.items ?? []), ...page.items], next: page.next });
        setLoadingMore(false);
      },
      (error: unknown) => {
        setLoadingMore(false);
        if (reportIfTransient(error, loadMore)) return;
        setMoreError(error instanceof ApiError ? error.message : String(error));
      },
    );
  };

  return { ...first, items, next, loadMore, loadingMore, moreError };
}

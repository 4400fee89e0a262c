import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api-client';
import { clearConnectionProblem, reportIfTransient } from './connection-banner';

export interface Resource<T> {
  data: T | undefined;
  /** A non-transient error (404, 403, 422...) to show in place; transient ones go to the banner. */
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads what a page shows and reloads it when `deps` change; only the latest load's answer is kept (typing in
 * a search box starts many, and an older answer must not overwrite a newer one).
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: ApiError | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(controller.signal).then(
      (data) => {
        if (mine !== generation.current) return;
        clearConnectionProblem();
        setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (mine !== generation.current || (error instanceof DOMException && error.name === 'AbortError')) return;
        if (reportIfTransient(error, run)) {
          setState((s) => ({ ...s, loading: false }));
          return;
        }
        const apiError = error instanceof ApiError ? error : new ApiError(0, String(error));
        setState((s) => ({ ...s, error: apiError, loading: false }));
      },
    );
    return () => controller.abort();
  }, deps);
  useEffect(() => run(), [run]);
  return { ...state, reload: run };
}

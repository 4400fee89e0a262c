import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api-client';

/**
 * One banner for faults of the connection or the service (status 0, 502-504): what failed and a Retry
 * button that runs the failed action again. Forms keep what was typed: they report here and keep their state.
 */

interface Problem {
  message: string;
  retry: () => void;
}

let current: Problem | undefined;
const listeners = new Set<() => void>();

function set(problem: Problem | undefined): void {
  current = problem;
  for (const listener of listeners) listener();
}

/** Shows the banner when the error is transient and returns true; false leaves the error to the caller. */
export function reportIfTransient(error: unknown, retry: () => void): boolean {
  if (!(error instanceof ApiError) || !error.transient) return false;
  const wait = error.retryAfter ? ` It asks to retry after ${error.retryAfter} s.` : '';
  set({ message: `${error.message}.${wait}`, retry });
  return true;
}

export function clearConnectionProblem(): void {
  if (current) set(undefined);
}

export function ConnectionBanner() {
  const [problem, setProblem] = useState(current);
  useEffect(() => {
    const listener = () => setProblem(current);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  if (!problem) return null;
  return (
    <div class="banner" role="alert">
      <span>{problem.message}</span>
      <button
        type="button"
        onClick={() => {
          set(undefined);
          problem.retry();
        }}
      >
        Retry
      </button>
    </div>
  );
}

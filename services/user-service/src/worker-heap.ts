/**
 * The V8 heap limit the cluster primary gives its workers, unless the operator set one (on the command line or
 * in NODE_OPTIONS, which a command-line flag would override).
 *
 * Why: after each full collection V8 lets the old generation grow to a multiple of what survived before it
 * collects again, and the largest multiple it allows follows the heap limit: 4x under the default limit (a
 * quarter of the machine's memory, at most 4 GB), 1.6x at 1024 MB, 1.4x at 512 MB, 1.3x at 256 MB (Node 20,
 * `--trace-gc-verbose` prints it). A worker keeps about 30 MB alive. On PostgreSQL, whose driver parses the wire
 * protocol in JavaScript (a request allocates more than on SQLite, and V8 grows the heap further for a faster
 * allocator), the heap reached 64-80 MB, mostly garbage, under load: 146-158 MiB peak RSS per worker at 200k
 * users on a busy machine, 188 MiB in the 1M benchmark. With 512 MB it stays under about 46 MB.
 *
 * 512 MB is far above what a worker holds alive (requests carry at most 1 MiB bodies, pages a few hundred rows;
 * exports and imports run in the CLI, not in the server), so it only bounds the growth, never a real need. A
 * deployment that wants another limit sets NODE_OPTIONS=--max-old-space-size=N.
 */
export const WORKER_MAX_OLD_SPACE_MB = 512;

/** Any form Node and V8 accept: dashes or underscores, `--max-heap-size` too. */
const HEAP_LIMIT_FLAG = /--max[-_](old[-_]space|heap)[-_]size\b/;

/** The arguments a worker runs Node with: the primary's own, plus the heap limit when none is set. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ''): string[] {
  if (HEAP_LIMIT_FLAG.test(nodeOptions) || execArgv.some((arg) => HEAP_LIMIT_FLAG.test(arg))) return [...execArgv];
  return [...execArgv, `--max-old-space-size=${WORKER_MAX_OLD_SPACE_MB}`];
}

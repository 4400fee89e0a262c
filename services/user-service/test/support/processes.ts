import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { alive } from '@user-service/data/testing';

// The process helpers the data package's tests use too live there (testing/processes.ts).
export { alive, childrenOf, descendantsOf, freePort, sleep, waitFor } from '@user-service/data/testing';

export const SERVICE_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('../../../..', import.meta.url));

/** The command line of a process, for messages. */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '?';
  }
}

export interface Running {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Spawns a command that starts the service and waits for its banner ("listening on http://..."). Rejects with
 * the output so far when the banner does not come within `timeoutMs` or the process exits first.
 */
export async function startService(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<Running> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no banner within ${options.timeoutMs ?? 30_000} ms:\n${out}`)),
      options.timeoutMs ?? 30_000,
    );
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1].replace('0.0.0.0', '127.0.0.1'));
      }
    };
    child.stderr?.on('data', check);
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${out}`));
    });
  });
  return { child, base, output: () => out, exited };
}

/** SIGKILLs whatever of `pids` is still alive (test clean-up). */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireUrl, type TestDatabase } from '@user-service/data/testing';

const SERVICE_DIR = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `user-service <args>` on the given database in a child process, as `npm run cli` would; `extraEnv` adds
 * settings for this run only (the environment of the test process is shared by suites running side by side).
 */
export function cli(db: TestDatabase, args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  // The child must not think it is part of this test run.
  const { NODE_TEST_CONTEXT: _ignored, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', ...args],
      { cwd: SERVICE_DIR, env: { ...env, ...extraEnv, DATABASE_URL: requireUrl(db) } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  alive,
  commandOf,
  descendantsOf,
  killAll,
  REPO_DIR,
  SERVICE_DIR,
  startService,
  waitFor,
} from './support/processes.js';

// Process managers stop a service by sending SIGTERM to the process they started, here `npm start`: npm
// itself. Whatever npm runs must stop with it, primary and workers, leaving no orphan behind.
describe('npm start stops with the signal sent to npm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-npm-'));
  const leftovers = new Set<number>();
  after(() => {
    killAll(leftovers);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [where, cwd] of [
    ['the service folder', SERVICE_DIR],
    ['the repository root', REPO_DIR],
  ] as const) {
    it(`SIGTERM to npm (started in ${where}) stops the primary and every worker`, async () => {
      const running = await startService('npm', ['start', '--silent'], {
        cwd,
        env: { WORKERS: '2', DATABASE_URL: `sqlite:///${join(dir, `${where.replace(/\W/g, '-')}.db`)}` },
      });
      const npmPid = running.child.pid ?? 0;
      // The primary forks the second worker once the first listens: three node processes under npm.
      const isNode = (line: string) => /^\d+ (\S*\/)?node .*start\.mjs/.test(line);
      // What each process was running when it matched, kept: a worker caught between fork and exec shows its
      // parent's command line first and, for an instant, none at all (a CI run read it empty on a second look).
      let tree: number[] = [];
      let seen: string[] = [];
      await waitFor(() => {
        tree = descendantsOf(npmPid);
        seen = tree.map((pid) => `${pid} ${commandOf(pid)}`);
        return seen.filter(isNode).length >= 3;
      }, 15_000);
      for (const pid of tree) leftovers.add(pid);
      assert.ok(seen.filter(isNode).length >= 3, `primary and two workers under npm: ${seen.join('; ')}`);
      assert.equal((await fetch(`${running.base}/health`)).status, 200);

      running.child.kill('SIGTERM');
      const code = await Promise.race([running.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
      assert.notEqual(code, 'timeout', 'npm exited');
      const gone = await waitFor(() => tree.every((pid) => !alive(pid)), 10_000);
      assert.ok(
        gone,
        `still running after npm exited: ${tree
          .filter(alive)
          .map((p) => `${p} ${commandOf(p)}`)
          .join('; ')}`,
      );
    });
  }
});

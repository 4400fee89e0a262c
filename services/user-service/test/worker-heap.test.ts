import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WORKER_MAX_OLD_SPACE_MB, workerExecArgv } from '../src/worker-heap.js';
import { childrenOf, commandOf, killAll, SERVICE_DIR, startService, waitFor } from './support/processes.js';

const LIMIT = `--max-old-space-size=${WORKER_MAX_OLD_SPACE_MB}`;

describe('workerExecArgv', () => {
  it('adds the heap limit to the primary flags when none is set', () => {
    assert.equal(WORKER_MAX_OLD_SPACE_MB, 512);
    assert.deepEqual(workerExecArgv(['--max-semi-space-size=2']), ['--max-semi-space-size=2', LIMIT]);
    assert.deepEqual(workerExecArgv([], '--enable-source-maps'), [LIMIT]);
  });

  it("keeps the operator's own limit, on the command line or in NODE_OPTIONS, in any spelling", () => {
    for (const flag of ['--max-old-space-size=1024', '--max_old_space_size=64', '--max-heap-size=512']) {
      assert.deepEqual(workerExecArgv(['--max-semi-space-size=2', flag]), ['--max-semi-space-size=2', flag]);
      assert.deepEqual(workerExecArgv(['--max-semi-space-size=2'], `--enable-source-maps ${flag}`), [
        '--max-semi-space-size=2',
      ]);
    }
  });
});

describe('cluster workers run with the heap limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-worker-heap-'));
  const pids = new Set<number>();
  after(() => {
    killAll(pids);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The command lines of a started primary's two workers (once both run), then stops it. */
  async function workerCommands(env: Record<string, string>, name: string): Promise<string[]> {
    const running = await startService(process.execPath, ['--max-semi-space-size=2', 'scripts/start.mjs'], {
      cwd: SERVICE_DIR,
      env: { WORKERS: '2', DATABASE_URL: `sqlite:///${join(dir, `${name}.db`)}`, ...env },
    });
    const primary = running.child.pid ?? 0;
    pids.add(primary);
    const workers = () => childrenOf(primary).filter((pid) => commandOf(pid).includes('start.mjs'));
    assert.ok(await waitFor(() => /all 2 workers listening/.test(running.output()), 20_000), running.output());
    const commands = workers().map(commandOf);
    for (const pid of workers()) pids.add(pid);
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
    return commands;
  }

  it('adds the limit to the flags the primary was started with', async () => {
    const commands = await workerCommands({}, 'default');
    assert.equal(commands.length, 2);
    for (const command of commands) {
      assert.match(command, /--max-semi-space-size=2 .*--max-old-space-size=512 .*scripts\/start\.mjs/);
    }
  });

  it('leaves the limit to NODE_OPTIONS when the operator sets one there', async () => {
    const commands = await workerCommands({ NODE_OPTIONS: '--max-old-space-size=300' }, 'operator');
    assert.equal(commands.length, 2);
    for (const command of commands) assert.doesNotMatch(command, /--max-old-space-size/);
  });
});

// Runs the current package's test files (test/*.test.ts) with node --test and tsx, the way its `test` script and
// scripts/test-on-node.sh run them: most files three at a time, since they mostly wait on databases, child
// processes and timers, and node --test's default on a 2-core machine is one file at a time; then the files
// named in test/serial-files.txt one at a time, because they assert wall-clock bounds (event-loop delay, a
// timeout that must fire within its own limit, a process banner within N s) that a busy neighbour file can
// push past. TEST_CONCURRENCY overrides the three. Exits 1 when either run fails; both always run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const concurrency = process.env.TEST_CONCURRENCY ?? '3';
const files = readdirSync('test')
  .filter((name) => name.endsWith('.test.ts'))
  .sort();
const listFile = 'test/serial-files.txt';
const listed = existsSync(listFile)
  ? readFileSync(listFile, 'utf8')
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter(Boolean)
  : [];
const unknown = listed.filter((name) => !files.includes(name));
if (unknown.length > 0) {
  console.error(`${listFile} names files that do not exist: ${unknown.join(', ')}`);
  process.exit(1);
}

let status = 0;
for (const [group, perRun] of [
  [files.filter((name) => !listed.includes(name)), concurrency],
  [listed, '1'],
]) {
  if (group.length === 0) continue;
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${perRun}`, '--test-reporter=spec'];
  const run = spawnSync(process.execPath, [...args, ...group.map((name) => `test/${name}`)], { stdio: 'inherit' });
  if (run.status !== 0) status = 1;
}
process.exit(status);

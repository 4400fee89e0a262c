// Runs the current package's test files (test/*.test.ts) with node --test and tsx, the way its `test` script and
// scripts/test-on-node.sh run them: most files three at a time, since they mostly wait on databases, child
// processes and timers, and node --test's default on a 2-core machine is one file at a time; then the files
// named in test/serial-files.txt one at a time, because they assert wall-clock bounds (event-loop delay, a
// timeout that must fire within its own limit, a process banner within N s) that a busy neighbour file can
// push past. TEST_CONCURRENCY overrides the three. Exits 1 when either run fails; both always run.
//
// SECOND_NODE_PASS=1 (scripts/test-on-node.sh: CI's run on Node 24, after the machine's full run) leaves out the
// files test/second-pass-omits.txt names, and that script also sets TEST_DATABASES=sqlite: the second pass looks
// for what a Node.js major changes (native addons, the module loader, the start script, cluster, timers, fetch),
// not for what the database servers do, which the full run has just tested on the same code. It keeps CI within
// its time limit: the second pass took 764 s of a 2059 s run on 2026-11-25. The files left out are named.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const concurrency = process.env.TEST_CONCURRENCY ?? '3';
const files = readdirSync('test')
  .filter((name) => name.endsWith('.test.ts'))
  .sort();
const listFile = 'test/serial-files.txt';
/** The file names a list names, one per line, `#` starting a comment. */
function namesIn(path) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}
const listed = existsSync(listFile) ? namesIn(listFile) : [];
const secondPass = process.env.SECOND_NODE_PASS === '1';
const omitsFile = 'test/second-pass-omits.txt';
const omits = existsSync(omitsFile) ? namesIn(omitsFile) : [];
const omitted = secondPass ? omits : [];
for (const [file, names] of [
  [listFile, listed],
  [omitsFile, omits],
]) {
  const unknown = names.filter((name) => !files.includes(name));
  if (unknown.length > 0) {
    console.error(`${file} names files that do not exist: ${unknown.join(', ')}`);
    process.exit(1);
  }
}
if (secondPass) {
  console.log(
    `second Node.js pass: ${files.length - omitted.length} of ${files.length} files; left out: ${omitted.join(', ')}`,
  );
}

let status = 0;
for (const [group, perRun] of [
  [files.filter((name) => !listed.includes(name) && !omitted.includes(name)), concurrency],
  [listed.filter((name) => !omitted.includes(name)), '1'],
]) {
  if (group.length === 0) continue;
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${perRun}`, '--test-reporter=spec'];
  const run = spawnSync(process.execPath, [...args, ...group.map((name) => `test/${name}`)], { stdio: 'inherit' });
  if (run.status !== 0) status = 1;
}
process.exit(status);

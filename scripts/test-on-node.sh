#!/usr/bin/env bash
# Runs both packages' tests on another Node.js major (default 24) taken from the npm registry, after the
# machine's own run and against the same installed tree: `bash scripts/test-on-node.sh 24`.
#
# - Node itself: the registry's node-linux-<arch> package (what `npx -p node@24` pulls), installed in a
#   temporary directory and put first on PATH, so the test runner, every process a test spawns (the service,
#   cluster workers, the CLI) and `npm start` in the tests run on it.
# - Native modules: @node-rs/argon2, @node-rs/bcrypt and better-sqlite3 13 (what the SQLite dialect loads on
#   Node 22 and later, see packages/data/src/dialects/sqlite.ts) are Node-API builds shipped in their packages
#   and load on any Node; better-sqlite3 12, built in node_modules for the machine's Node 20, is not loaded.
# - Not every file, and the contract suites on SQLite only (SECOND_NODE_PASS=1, TEST_DATABASES=sqlite): see
#   scripts/run-tests.mjs. The machine's run, just before, is the full one.
# - No coverage (the machine's run measures it): scripts/run-tests.mjs, as each package's `test` script runs it
#   (most files three at a time, those in test/serial-files.txt one at a time), after building the service's
#   dist/ once: every test that starts the service runs scripts/start.mjs, which rebuilds a stale dist/ (rm,
#   then write), and two files doing so side by side pull the files from under each other's processes.
# Needs `npm ci` done first; CI=true (set by .ci/run) makes every database really run.
set -euo pipefail
major="${1:-24}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/node${major}-tests.XXXXXX")"
trap 'rm -rf "$work"' EXIT
arch="$(node -p process.arch)"
step() { echo "[node $major] $1 ($(date +%T))"; }

step "installing node-linux-${arch}@${major} from the npm registry"
npm install --prefix "$work" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
  "node-linux-${arch}@${major}" >/dev/null
export PATH="$work/node_modules/node-linux-${arch}/bin:$PATH"
test "$(node -p 'process.versions.node.split(".")[0]')" = "$major"
step "using $(node -v) at $(command -v node)"
(cd "$root/packages/data" && node -e "
  const db = new (require('better-sqlite3-13'))(':memory:');
  console.log('better-sqlite3-13 loads: SQLite', db.prepare('select sqlite_version() as v').get().v);")

# What this pass leaves out, and why: scripts/run-tests.mjs (SECOND_NODE_PASS) and each package's
# test/second-pass-omits.txt; the suites on PostgreSQL and MariaDB are reported as skipped.
export SECOND_NODE_PASS=1 TEST_DATABASES=sqlite
status=0
for pkg in packages/data services/user-service; do
  step "testing $pkg"
  if [ "$pkg" = services/user-service ]; then (cd "$root/$pkg" && node scripts/build.mjs) || status=1; fi
  (cd "$root/$pkg" && node "$root/scripts/run-tests.mjs") || status=1
done
step "done (exit $status)"
exit "$status"

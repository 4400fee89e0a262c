#!/usr/bin/env bash
# The Dockerfile's steps without a container engine (CI has none), on a clean clone of the committed tree:
#   build:     npm ci (with dev dependencies) + npm run build -w services/user-service
#   prod-deps: npm ci --omit=dev from the manifests and the lock alone
#   runtime:   those production node_modules + the files the runtime stage copies + the built dist/
# then, with the environment the image sets (NODE_ENV=production, HOST=0.0.0.0, PORT, MALLOC_MMAP_THRESHOLD_)
# and nothing else from this shell: `migrate up` as compose's migrate service runs it, the server as the
# image's CMD runs it on an SQLite file, /health/ready 200 (the HEALTHCHECK), 401 on /api/v1/users without
# credentials, SIGTERM, exit code 0. Once on this machine's Node and once on Node 24 (the image's) from the
# npm registry. Also: no dev dependency in the production tree, and dist/ imports only production dependencies.
#
# better-sqlite3 12 (the SQLite driver on Node 20) compiles from source here, about two minutes, because no
# prebuilt binary can be downloaded; a Docker build downloads one. So it is compiled at most once: a binary
# already built for this Node in the tree the script runs from (CI's own `npm ci`), else the build stage's,
# goes to prebuild-install as a local prebuild (its cache for downloads) for the installs that follow.
# It checks the committed tree (git clone), not uncommitted edits.
# Usage: bash scripts/check-production-install.sh   (about 3 minutes; needs git, npm and the npm registry)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/production-install.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "[production install] $1 ($(date +%T))"; }
fail() { echo "[production install] FAILED: $1" >&2; exit 1; }
npm_ci() { npm ci --no-audit --no-fund --loglevel=error "$@"; }

# node-gyp needs the running Node's headers: with no nodedir configured and the headers installed beside this
# Node (as on these machines, which cannot download them), use those.
node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
configured="$(npm config get nodedir 2>/dev/null || true)"
if [ -z "${npm_config_nodedir:-}" ] && { [ -z "$configured" ] || [ "$configured" = undefined ] || [ "$configured" = null ]; } \
  && [ -f "$node_prefix/include/node/node.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi

step "clean clone of $(git -C "$root" rev-parse --short HEAD)"
git clone -q "$root" "$work/build"
src="$work/build"

bs3_version="$(node -p "require('$src/package-lock.json').packages['node_modules/better-sqlite3'].version")"
prebuilds="$work/prebuilds"
prebuild="$prebuilds/better-sqlite3-v$bs3_version-node-v$(node -p process.versions.modules)-$(node -p process.platform)-$(node -p process.arch).tar.gz"
mkdir -p "$prebuilds"
export npm_config_better_sqlite3_local_prebuilds="$prebuilds"
local_bs3="$root/node_modules/better-sqlite3"
if [ -f "$local_bs3/build/Release/better_sqlite3.node" ] \
  && [ "$(node -p "require('$local_bs3/package.json').version")" = "$bs3_version" ] \
  && node -e "new (require('$local_bs3'))(':memory:').close()" 2>/dev/null; then
  tar -czf "$prebuild" -C "$local_bs3" build/Release/better_sqlite3.node
  echo "  better-sqlite3 $bs3_version: reusing the binary built for $(node -v) in $root/node_modules"
fi

step "build stage: npm ci"
(cd "$src" && npm_ci 2>&1 | sed '/Unknown env config "better-sqlite3-local-prebuilds"/d')
test -f "$src/node_modules/better-sqlite3/build/Release/better_sqlite3.node" || fail "better-sqlite3 12 not installed"
step "build stage: npm run build -w services/user-service"
(cd "$src" && npm run build -w services/user-service --silent)
test -f "$src/services/user-service/dist/main.js" || fail "no dist/main.js"

step "prod-deps stage: npm ci --omit=dev (manifests and lock only)"
app="$work/app"
for f in package.json package-lock.json packages/data/package.json services/user-service/package.json; do
  mkdir -p "$app/$(dirname "$f")" && cp "$src/$f" "$app/$f"
done
bs3="$src/node_modules/better-sqlite3"
[ -f "$prebuild" ] || tar -czf "$prebuild" -C "$bs3" build/Release/better_sqlite3.node
(cd "$app" && npm_ci --omit=dev 2>&1 | sed '/Unknown env config "better-sqlite3-local-prebuilds"/d')
test -f "$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node" || fail "better-sqlite3 12 not installed"
test -d "$app/node_modules/better-sqlite3-13/prebuilds" || fail "better-sqlite3 13 not installed"
if cmp -s "$bs3/build/Release/better_sqlite3.node" "$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node"; then
  echo "  better-sqlite3 12: installed from the local prebuild, not compiled again"
fi

step "runtime stage: the files the Dockerfile copies"
for f in tsconfig.base.json packages/data/tsconfig.json packages/data/src services/user-service/tsconfig.json \
  services/user-service/bin services/user-service/src services/user-service/migrations services/user-service/dist; do
  mkdir -p "$app/$(dirname "$f")" && cp -R "$src/$f" "$app/$f"
done
mkdir -p "$app/services/user-service/data"

step "no dev dependency in the production tree; dist/ imports production dependencies only"
(cd "$app" && node --input-type=module -e "
  import { existsSync, readdirSync, readFileSync } from 'node:fs';
  import { builtinModules } from 'node:module';
  const pkg = (p) => JSON.parse(readFileSync(p, 'utf8'));
  const manifests = ['package.json', 'packages/data/package.json', 'services/user-service/package.json'].map(pkg);
  const prod = new Set(manifests.flatMap((m) => Object.keys(m.dependencies ?? {})));
  // npm marks in its hidden lock file every package that only dev dependencies need; none may be installed.
  const installed = pkg('node_modules/.package-lock.json').packages;
  const devOnly = Object.keys(installed).filter((path) => installed[path].dev);
  if (devOnly.length) throw new Error('dev-only packages installed: ' + devOnly.join(', '));
  const tools = ['typescript', 'c8', '@biomejs/biome', 'autocannon', 'fast-check', 'vega'].filter((n) => existsSync('node_modules/' + n));
  if (tools.length) throw new Error('dev tools installed: ' + tools.join(', '));
  const files = readdirSync('services/user-service/dist', { recursive: true }).filter((f) => f.endsWith('.js'));
  const imported = new Set();
  // Packages bundled into dist/ (esbuild marks each bundled file with a '// ../../node_modules/<package>/' line):
  // their code may name their own files in strings, e.g. the standalone code fast-json-stringify can generate
  // (require('fast-json-stringify/lib/serializer') in a template), which the service never asks for.
  const bundled = new Set();
  for (const f of files) {
    const text = readFileSync('services/user-service/dist/' + f, 'utf8');
    for (const m of text.matchAll(/^\/\/ (?:\.\.\/)+node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)) bundled.add(m[1]);
    const forms = [
      /^\s*(?:import|export)\b[^;'\"]*?\bfrom\s*[\"']([^\"']+)[\"']/gm,
      /^\s*import\s*[\"']([^\"']+)[\"']/gm,
      /\b(?:import|require)\(\s*[\"']([^\"']+)[\"']\s*\)/g,
    ];
    for (const form of forms) for (const m of text.matchAll(form)) if (!/^[.\/]/.test(m[1])) imported.add(m[1]);
  }
  const name = (s) => (s.startsWith('@') ? s.split('/').slice(0, 2) : s.split('/').slice(0, 1)).join('/');
  const bad = [...imported].filter((s) => !s.startsWith('node:') && !builtinModules.includes(name(s)) && !prod.has(name(s)) && !bundled.has(name(s)));
  if (bad.length) throw new Error('dist imports packages that are not production dependencies: ' + bad.join(', '));
  const used = [...new Set([...imported].filter((s) => !s.startsWith('node:') && !builtinModules.includes(name(s))).map(name))];
  console.log('  ' + files.length + ' files in dist/; packages imported: ' + used.sort().join(', '));
  for (const tool of ['tsx', 'esbuild']) if (used.includes(tool)) throw new Error('dist imports ' + tool);
")

step "Node 24 from the npm registry (the image's Node)"
npm install --prefix "$work/node24" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
  "node-linux-$(node -p process.arch)@24" >/dev/null
node24="$work/node24/node_modules/node-linux-$(node -p process.arch)/bin/node"

free_port() { node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"; }
status_of() {
  node -e "fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then((r) => console.log(r.status), () => console.log(0))" "$1"
}

run_image() {
  local node="$1" label
  label="$("$node" -v)"
  local port db
  port="$(free_port)"
  db="$work/app-${label}.db"
  # The image's environment (Dockerfile ENV) and nothing else from this shell.
  local -a image_env=(env -i "PATH=$(dirname "$node"):/usr/local/bin:/usr/bin:/bin" "HOME=$work/home"
    NODE_ENV=production HOST=0.0.0.0 "PORT=$port" MALLOC_MMAP_THRESHOLD_=131072 "DATABASE_URL=sqlite:///$db")
  mkdir -p "$work/home"
  step "[$label] migrate up (compose's migrate service: bin/user-service.js through tsx)"
  (cd "$app" && "${image_env[@]}" "$node" services/user-service/bin/user-service.js migrate up) | sed 's/^/  /'
  step "[$label] start: node --max-semi-space-size=2 services/user-service/dist/main.js on port $port"
  (cd "$app" && exec "${image_env[@]}" "$node" --max-semi-space-size=2 services/user-service/dist/main.js) \
    >"$work/server-$label.log" 2>&1 &
  server_pid=$!
  local code=0 deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server-$label.log"; fail "[$label] the server exited"; }
    code="$(status_of "http://127.0.0.1:$port/health/ready")"
    [ "$code" = 200 ] && break
    sleep 0.3
  done
  [ "$code" = 200 ] || { cat "$work/server-$label.log"; fail "[$label] /health/ready answered $code, not 200, within 60 s"; }
  echo "  /health/ready: 200"
  code="$(status_of "http://127.0.0.1:$port/api/v1/users")"
  [ "$code" = 401 ] || { cat "$work/server-$label.log"; fail "[$label] /api/v1/users without credentials answered $code, not 401"; }
  echo "  /api/v1/users without credentials: 401"
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  [ "$rc" = 0 ] || { cat "$work/server-$label.log"; fail "[$label] exit code $rc after SIGTERM, not 0"; }
  echo "  SIGTERM: exit code 0"
}

run_image "$(command -v node)"
run_image "$node24"
step "ok"

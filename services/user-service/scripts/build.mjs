// Compiles the service to plain JavaScript in dist/ (one bundle for the server, one file per migration), so
// `npm start` runs without a TypeScript loader: faster start-up and no loader thread in every process.
// The workspace data layer and the HTTP stack every start loads (BUNDLED) are bundled in; other npm packages
// stay external (imported from node_modules).
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url);
const pkg = (path) => JSON.parse(readFileSync(new URL(path, root), 'utf8'));
// Bundled: the packages every worker loads at start. Resolving and reading their few hundred files one by one
// (stat, open, package.json, the CommonJS export scan) was a third of a worker's start-up in a `--cpu-prof`;
// bundled, `node dist/main.js` is ready in 755 ms instead of 1309 (median of 8, 2026-11-25). Left external:
// native addons (better-sqlite3, @node-rs/*), packages that read files beside their own code (@fastify/swagger
// reads its package.json, @fastify/swagger-ui serves its folder), and what loads only on demand (drivers,
// ioredis, prom-client, OpenTelemetry, pino-pretty, the CLI's packages). pino comes in with fastify: its
// transports would look for worker files beside the bundle, and the service uses none (observability/logger.ts).
const BUNDLED = new Set([
  '@fastify/cors',
  '@fastify/fast-json-stringify-compiler',
  '@fastify/rate-limit',
  '@fastify/static',
  '@fastify/type-provider-typebox',
  '@fastify/under-pressure',
  '@sinclair/typebox',
  'ajv',
  'ajv-formats',
  'close-with-grace',
  'fastify',
  'helmet',
  'jose',
  'kysely',
  'p-limit',
  'uuid',
]);
const external = Object.keys({
  ...pkg('package.json').dependencies,
  ...pkg('../../packages/data/package.json').dependencies,
}).filter((name) => name !== '@user-service/data' && !BUNDLED.has(name));

// Skip the build when dist/ is newer than every input: `npm start` then costs no build at all.
function newest(url) {
  const stat = statSync(url);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(
    stat.mtimeMs,
    ...readdirSync(url).map((name) => newest(new URL(`${url.href.replace(/\/$/, '')}/${name}`))),
  );
}
const inputs = [
  'src',
  'migrations',
  'scripts',
  'package.json',
  '../../packages/data/src',
  '../../packages/data/package.json',
];

/** Builds dist/ unless it is newer than every input. */
export async function buildIfStale() {
  let built = 0;
  try {
    built = statSync(new URL('dist/main.js', root)).mtimeMs;
  } catch {}
  if (built > Math.max(...inputs.map((path) => newest(new URL(path, root))))) return;
  await buildNow();
}

async function buildNow() {
  const { build, stop } = await import('esbuild');
  rmSync(new URL('dist', root), { recursive: true, force: true });
  const common = {
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    absWorkingDir: root.pathname,
  };
  // Splitting keeps each database dialect (and its driver import) in its own chunk, loaded only when used.
  await build({
    ...common,
    entryPoints: ['src/main.ts'],
    bundle: true,
    splitting: true,
    external,
    outdir: 'dist',
    sourcemap: 'linked',
    // Bundled CommonJS code calls require() for Node's own modules, which an ES module does not have.
    banner: {
      js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);",
    },
  });
  await build({
    ...common,
    entryPoints: readdirSync(new URL('migrations', root))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `migrations/${f}`),
    outdir: 'dist/migrations',
  });
  await buildConsole(build);
  // esbuild keeps its service process running for further builds: under `npm start` that child (~35 MB resident)
  // would otherwise stay beside the server for as long as it runs.
  await stop();
}

/**
 * The admin console (src/admin/ui): one browser bundle, preact included (no CDN: it works offline), with hashed
 * names that the server may let browsers cache for a year, and the one HTML document that names them. No
 * inline script or style anywhere: the console's Content-Security-Policy forbids both.
 */
async function buildConsole(build) {
  const out = 'dist/admin/assets';
  const result = await build({
    absWorkingDir: root.pathname,
    entryPoints: { console: 'src/admin/ui/main.tsx' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox115', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    // No source maps: they would publish the whole console source from the service (it is in the repository).
    sourcemap: false,
    entryNames: '[name]-[hash]',
    outdir: out,
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) => path.slice(out.length + 1));
  const script = outputs.find((name) => name.endsWith('.js'));
  const style = outputs.find((name) => name.endsWith('.css'));
  if (!script || !style) throw new Error(`admin console build: no script or stylesheet in ${outputs.join(', ')}`);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>user-service admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/admin/assets/${style}">
<script type="module" src="/admin/assets/${script}"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the admin console…</p></div>
<noscript><p>The admin console needs JavaScript.</p></noscript>
</body>
</html>
`;
  writeFileSync(new URL('dist/admin/index.html', root), html);
}

// `node scripts/build.mjs` builds; scripts/start.mjs imports buildIfStale.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildIfStale();

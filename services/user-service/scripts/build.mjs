// Compiles the service to plain JavaScript in dist/ (one bundle for the server, one file per migration), so
// `npm start` runs without a TypeScript loader: faster start-up and no loader thread in every process.
// npm packages stay external (imported from node_modules); the workspace data layer is bundled in.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url);
const pkg = (path) => JSON.parse(readFileSync(new URL(path, root), 'utf8'));
const external = Object.keys({
  ...pkg('package.json').dependencies,
  ...pkg('../../packages/data/package.json').dependencies,
}).filter((name) => name !== '@user-service/data');

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
  });
  await build({
    ...common,
    entryPoints: readdirSync(new URL('migrations', root))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `migrations/${f}`),
    outdir: 'dist/migrations',
  });
  // esbuild keeps its service process running for further builds: under `npm start` that child (~35 MB resident)
  // would otherwise stay beside the server for as long as it runs.
  await stop();
}

// `node scripts/build.mjs` builds; scripts/start.mjs imports buildIfStale.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildIfStale();

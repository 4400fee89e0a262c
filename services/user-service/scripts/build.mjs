// Compiles the service to plain JavaScript in dist/ (one bundle for the server, one file per migration), so
// `npm start` runs without a TypeScript loader: faster start-up and no loader thread in every process.
// npm packages stay external (imported from node_modules); the workspace data layer is bundled in.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url);
const pkg = (path) => JSON.parse(readFileSync(new URL(path, root), 'utf8'));
const external = Object.keys({
  ...pkg('package.json').dependencies,
  ...pkg('../../packages/data/package.json').dependencies,
}).filter((name) => name !== '@user-service/data');

rmSync(new URL('dist', root), { recursive: true, force: true });
const common = { platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning', absWorkingDir: root.pathname };
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

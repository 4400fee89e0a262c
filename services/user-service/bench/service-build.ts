/**
 * The service as `npm start` runs it. When the package has a build step (scripts/build.mjs: the esbuild bundle
 * in dist/), the benchmark builds once and runs a private copy of dist/, so that a rebuild during the run
 * (`npm start` rebuilds) cannot pull files away from a running service. Without one, src/main.ts under tsx.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));

let entry: { args: string[]; description: string } | undefined;
// In the service's node_modules/.cache (ignored by git and the linter), so the bundle's bare imports resolve
// from the same node_modules as from dist/.
const copyDir = join(SERVICE_DIR, 'node_modules', '.cache', `user-service-bench-${process.pid}`);

export function serviceEntry(): { args: string[]; description: string } {
  if (entry) return entry;
  if (existsSync(join(SERVICE_DIR, 'scripts', 'build.mjs'))) {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: SERVICE_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
    cpSync(join(SERVICE_DIR, 'dist'), join(copyDir, 'dist'), { recursive: true });
    process.once('exit', removeServiceCopy);
    // The same V8 flag as `npm start` (scripts/start.mjs); MALLOC_MMAP_THRESHOLD_ is set in processes.ts.
    entry = {
      args: ['--max-semi-space-size=2', join(copyDir, 'dist', 'main.js')],
      description: 'MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 dist/main.js (as npm start)',
    };
  } else {
    entry = { args: ['--import', 'tsx', 'src/main.ts'], description: 'node --import tsx src/main.ts' };
  }
  return entry;
}

export function removeServiceCopy(): void {
  rmSync(copyDir, { recursive: true, force: true });
}

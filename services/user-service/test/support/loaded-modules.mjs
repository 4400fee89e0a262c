// Preloaded (node --import) into a service process by test/tracing.test.ts: records which @opentelemetry
// modules the process loads, to prove that with tracing off none is. LOADED_MODULES_FILE names the file.
// Two views: every ESM import resolved (a resolve hook, which runs in the loader thread) and, at exit, every
// CommonJS module in require's cache (the SDK packages are CommonJS and load each other with require).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.LOADED_MODULES_FILE;
if (file) {
  register('./loaded-modules-hooks.mjs', import.meta.url, { data: { file } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const loaded = Object.keys(require.cache).filter((path) => path.includes('@opentelemetry'));
    appendFileSync(file, `${loaded.map((path) => `require ${path}\n`).join('')}exit\n`);
  });
}

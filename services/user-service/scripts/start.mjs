// `npm start`: build dist/ if the sources changed, then run the server in this same process (no second Node
// start-up, no nested npm). Runs from the service folder, so ./data and .env resolve the same however it is
// started. Cluster workers re-run this file but skip the build check: their primary made dist/ current just
// before forking them, and a worker rebuilding dist/ under its running siblings could only break them.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';

process.chdir(fileURLToPath(new URL('..', import.meta.url)));
if (cluster.isPrimary) await (await import('./build.mjs')).buildIfStale();
await import('../dist/main.js');

// `npm start`: build dist/ if the sources changed, then run the server in this same process (no second Node
// start-up, no nested npm). Runs from the service folder, so ./data and .env resolve the same however it is
// started. Cluster workers re-run this file: the build check is a few file stats.
import { fileURLToPath } from 'node:url';
import { buildIfStale } from './build.mjs';

process.chdir(fileURLToPath(new URL('..', import.meta.url)));
await buildIfStale();
await import('../dist/main.js');

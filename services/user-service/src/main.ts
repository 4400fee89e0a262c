// Process entry for `npm start`: configuration, then the server, in one process or, with WORKERS > 1, in
// several sharing the port. A configuration or connection problem ends the process with one readable line,
// never a stack trace.
import cluster from 'node:cluster';
import { ConfigError, loadConfig, loadDotEnv } from './config.js';

try {
  loadDotEnv();
  const config = loadConfig();
  // Imported on demand: the primary of a cluster never loads the HTTP stack, a worker never the cluster code.
  if (config.workers > 1 && cluster.isPrimary) await (await import('./cluster.js')).runPrimary(config);
  else await (await import('./server.js')).serve(config, { quiet: cluster.isWorker && cluster.worker?.id !== 1 });
} catch (error) {
  const message =
    error instanceof ConfigError
      ? `configuration error: ${error.message}`
      : `failed to start: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

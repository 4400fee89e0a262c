// Process entry for `npm start`: configuration, then the server. A configuration or connection problem
// ends the process with one readable line, never a stack trace.
import { ConfigError, loadConfig, loadDotEnv } from './config.js';
import { serve } from './server.js';

try {
  loadDotEnv();
  await serve(loadConfig());
} catch (error) {
  const message =
    error instanceof ConfigError
      ? `configuration error: ${error.message}`
      : `failed to start: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

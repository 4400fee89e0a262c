import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { serve } from '../server.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('start the HTTP service (same as npm start)')
    .option('--host <host>', 'interface to listen on (HOST)')
    .option('--port <port>', 'port (PORT)')
    .action(async (options: { host?: string; port?: string }) => {
      const env = {
        ...process.env,
        ...(options.host ? { HOST: options.host } : {}),
        ...(options.port ? { PORT: options.port } : {}),
      };
      await serve(loadConfig(env));
    });
}

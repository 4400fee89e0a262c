/** The service version, shown by `--version` and in the OpenAPI document. Its own module so the CLI need not load Fastify to print it. */
export const VERSION = '0.1.0';

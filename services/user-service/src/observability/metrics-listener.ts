import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsTokenMatches } from './metrics-token.js';

export type RenderMetrics = () => Promise<{ text: string; contentType: string }>;

/**
 * The separate metrics listener (METRICS_PORT): only `GET /metrics`, on METRICS_HOST (127.0.0.1 unless set),
 * apart from the API so that a firewall or the bind address alone decides who may scrape. When METRICS_TOKEN
 * is set as well, this listener asks for it too. In a cluster the primary runs it and answers with the sum
 * over the workers.
 */
export async function listenForMetrics(
  options: { host: string; port: number; token?: string | undefined },
  render: RenderMetrics,
): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not Found"}');
      return;
    }
    if (options.token !== undefined && !metricsTokenMatches(req.headers.authorization, options.token)) {
      res
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
        .end('{"detail":"Not authenticated"}');
      return;
    }
    render().then(
      ({ text, contentType }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        res
          .writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' })
          .end(JSON.stringify({ detail: `Metrics are not available: ${(error as Error).message}` }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

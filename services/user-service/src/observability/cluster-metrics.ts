import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { RenderMetrics } from './metrics-listener.js';

/**
 * With WORKERS > 1 a scrape must see the whole service, not whichever worker the kernel handed the connection
 * to. prom-client's AggregatorRegistry does the summing in the primary: it asks every worker for its registry
 * over the cluster's IPC channel and adds the series up (counters and histograms sum; gauges sum, so in-flight
 * requests and pool connections are the service's totals). A scrape that reaches a worker (METRICS_TOKEN on
 * the API port) is passed to the primary the same way and answered with the sum.
 */

const SCRAPE = 'user-service:metrics-scrape';
const SCRAPED = 'user-service:metrics-scraped';
/** prom-client gives up on workers after 5 s; the worker waiting for the primary waits a little longer. */
const SCRAPE_TIMEOUT_MS = 6_000;

interface ScrapeRequest {
  type: typeof SCRAPE;
  id: number;
}
interface ScrapeAnswer {
  type: typeof SCRAPED;
  id: number;
  text?: string;
  contentType?: string;
  error?: string;
}

/** In the primary: sums the workers' metrics on request, for its own listener and for workers that ask. */
export function primaryMetrics(): RenderMetrics {
  const aggregator = new AggregatorRegistry();
  const render: RenderMetrics = async () => ({
    text: await aggregator.clusterMetrics(),
    contentType: aggregator.contentType,
  });
  cluster.on('message', (worker: Worker, message: unknown) => {
    const request = message as Partial<ScrapeRequest> | null;
    if (request?.type !== SCRAPE || typeof request.id !== 'number') return;
    const id = request.id;
    render().then(
      ({ text, contentType }) => send(worker, { type: SCRAPED, id, text, contentType }),
      (error: unknown) => send(worker, { type: SCRAPED, id, error: (error as Error).message }),
    );
  });
  return render;
}

function send(worker: Worker, answer: ScrapeAnswer): void {
  if (worker.isConnected()) worker.send(answer);
}

/**
 * In a worker: offers this worker's registry to the primary's aggregator, and returns how a scrape that
 * reached this worker gets the cluster's sum from the primary.
 */
export function workerMetrics(registry: Registry): RenderMetrics {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener that answers the primary's requests.
  new AggregatorRegistry();
  let next = 0;
  const waiting = new Map<number, (answer: ScrapeAnswer) => void>();
  process.on('message', (message: unknown) => {
    const answer = message as Partial<ScrapeAnswer> | null;
    if (answer?.type !== SCRAPED || typeof answer.id !== 'number') return;
    waiting.get(answer.id)?.(answer as ScrapeAnswer);
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the cluster primary did not answer'));
      }, SCRAPE_TIMEOUT_MS);
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (answer.error !== undefined || answer.text === undefined) reject(new Error(answer.error ?? 'no metrics'));
        else resolve({ text: answer.text, contentType: answer.contentType ?? 'text/plain' });
      });
      process.send?.({ type: SCRAPE, id } satisfies ScrapeRequest);
    });
}

/**
 * Benchmark router over several upstreams (its own process): Synkti's router in front of
 * UPSTREAM_URLS (comma-separated). With ENGINE_SCRAPE_MS > 0 it reads each upstream's vLLM
 * gauges that often and hands them to the router, as the fleet's gossip does (each node
 * scrapes its own engine every second); 0 leaves the router on outstanding requests only.
 * Prints `{"ready":true,"port":N}`; exits when its parent goes away.
 */
import { scrapeEngineLoad } from '../../packages/agent/src/router/engine-load.ts';
import { createRouter, type RouterPeer } from '../../packages/agent/src/router/router.ts';

const urls = (process.env.UPSTREAM_URLS ?? '').split(',').filter((u) => u !== '');
if (urls.length === 0) {
  console.error('UPSTREAM_URLS is required');
  process.exit(2);
}
const peers: RouterPeer[] = urls.map((baseUrl, i) => ({ id: `replica-${i}`, baseUrl }));
const scrapeMs = Number(process.env.ENGINE_SCRAPE_MS ?? 1000);
let timer: NodeJS.Timeout | undefined;
if (scrapeMs > 0) {
  const scrape = async (): Promise<void> => {
    await Promise.all(
      peers.map(async (p) => {
        const load = await scrapeEngineLoad(p.baseUrl, 500);
        if (load !== undefined) p.engine = load;
      }),
    );
  };
  await scrape();
  timer = setInterval(() => void scrape(), scrapeMs);
}
const router = createRouter({ port: 0, peers: () => peers });
const { port } = await router.start();
process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
const quit = (): void => {
  clearInterval(timer);
  void router.stop({ graceMs: 0 }).finally(() => process.exit(0));
};
process.stdin.resume();
process.stdin.on('end', quit);
process.on('SIGTERM', quit);

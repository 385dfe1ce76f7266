/**
 * Benchmark router (runs as its own process): Synkti's router in front of one upstream
 * (`UPSTREAM_URL`). Prints `{"ready":true,"port":N}` once listening and exits when its
 * parent goes away (stdin closes).
 */
import type { RouterPeer } from '../../packages/agent/src/router/router.ts';

// SYNKTI_BENCH_ROUTER: another build of router.ts (e.g. a copy of the previous commit's), for same-machine A/B runs.
const { createRouter } = (await import(
  process.env.SYNKTI_BENCH_ROUTER ?? '../../packages/agent/src/router/router.ts'
)) as typeof import('../../packages/agent/src/router/router.ts');

const upstream = process.env.UPSTREAM_URL;
if (!upstream) {
  console.error('UPSTREAM_URL is required');
  process.exit(2);
}
const peers: RouterPeer[] = [{ id: 'upstream', baseUrl: upstream }];
const router = createRouter({ port: Number(process.env.PORT ?? 0), peers: () => peers });
const { port } = await router.start();
process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
const quit = (): void => {
  void router.stop({ graceMs: 0 }).finally(() => process.exit(0));
};
process.stdin.resume();
process.stdin.on('end', quit);
process.on('SIGTERM', quit);

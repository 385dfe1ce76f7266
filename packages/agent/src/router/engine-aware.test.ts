import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { parseEngineMetrics } from './engine-load.ts';
import { PeerTable, type RouterPeer } from './peer-table.ts';
import { createRouter } from './router.ts';

const VLLM_PAGE = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen2.5-7B"} 7.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen2.5-7B"} 3.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen2.5-7B"} 0.82
vllm:iteration_tokens_total_bucket{le="1.0",model_name="Qwen/Qwen2.5-7B"} 3.0
`;

test('parseEngineMetrics reads vLLM gauges (labels, comments, the older KV name); none: undefined', () => {
  assert.deepEqual(parseEngineMetrics(VLLM_PAGE), { running: 7, waiting: 3, kvCacheUsage: 0.82 });
  assert.deepEqual(parseEngineMetrics('vllm:num_requests_running 2\nvllm:gpu_cache_usage_perc{a="b"} 0.5 1700000000000\n'), {
    running: 2,
    waiting: 0,
    kvCacheUsage: 0.5,
  });
  assert.equal(parseEngineMetrics('# nothing here\nprocess_cpu_seconds_total 4\n'), undefined);
  // Hostile or broken values are skipped, never NaN or negative.
  assert.deepEqual(parseEngineMetrics('vllm:num_requests_running -5\nvllm:num_requests_waiting NaN\nvllm:num_requests_waiting 1\n'), {
    running: 0,
    waiting: 1,
  });
});

function table(peers: RouterPeer[], cap = 64): PeerTable {
  return new PeerTable(() => peers, cap);
}

test('engine-aware choice: the peer with the least work ahead (own in-flight + the rest of its engine report)', (t) => {
  const peers: RouterPeer[] = [
    { id: 'busy', baseUrl: 'http://127.0.0.1:1', engine: { running: 8, waiting: 4 } },
    { id: 'calm', baseUrl: 'http://127.0.0.1:2', engine: { running: 1, waiting: 0 } },
  ];
  const tbl = table(peers);
  t.after(() => tbl.destroy());
  // The engine view counts other routers' requests this router never saw: 'calm' (1 ahead)
  // wins until this router alone has put 11 more on it, as many as 'busy' reports (12).
  const picks: string[] = [];
  for (let i = 0; i < 11; i++) picks.push(tbl.acquire()!.id);
  assert.deepEqual(picks, Array(11).fill('calm'));
  const next = new Set<string>();
  for (let i = 0; i < 4; i++) next.add(tbl.acquire()!.id);
  assert.ok(next.has('busy'), 'once calm holds more than busy reports, busy gets requests too');
});

test("engine-aware choice: this router's own requests inside a report are not counted twice", (t) => {
  const peers: RouterPeer[] = [
    { id: 'a', baseUrl: 'http://127.0.0.1:1', engine: { running: 0, waiting: 0 } },
    { id: 'b', baseUrl: 'http://127.0.0.1:2', engine: { running: 0, waiting: 0 } },
  ];
  const tbl = table(peers);
  t.after(() => tbl.destroy());
  const held = [tbl.acquire()!, tbl.acquire()!, tbl.acquire()!, tbl.acquire()!];
  assert.deepEqual(held.map((s) => s.id).sort(), ['a', 'a', 'b', 'b']);
  // The next reports show exactly this router's 2 + 2 requests: still even, nobody else's work.
  peers[0]!.engine = { running: 2, waiting: 0 };
  peers[1]!.engine = { running: 2, waiting: 0 };
  const count = { a: 0, b: 0 } as Record<string, number>;
  for (let i = 0; i < 6; i++) count[tbl.acquire()!.id]!++;
  assert.deepEqual(count, { a: 3, b: 3 });
});

test('engine-aware choice weighs a peer that streams slower: it gets fewer concurrent requests', (t) => {
  const peers: RouterPeer[] = [
    { id: 'slow', baseUrl: 'http://127.0.0.1:1', engine: { running: 0, waiting: 0 } },
    { id: 'fast', baseUrl: 'http://127.0.0.1:2', engine: { running: 0, waiting: 0 } },
  ];
  const tbl = table(peers);
  t.after(() => tbl.destroy());
  // Learn the speeds: slow streams a chunk every 60 ms, fast every 20 ms.
  const s = tbl.acquire(new Set(['fast']))!;
  const f = tbl.acquire(new Set(['slow']))!;
  tbl.noteStream(s, 11, 600);
  tbl.noteStream(f, 11, 200);
  tbl.release(s);
  tbl.release(f);
  const count = { slow: 0, fast: 0 } as Record<string, number>;
  for (let i = 0; i < 8; i++) count[tbl.acquire()!.id]!++;
  assert.ok(count.fast! >= 5 && count.slow! >= 1, `fast ${count.fast}, slow ${count.slow}: about 3 to 1`);
});

test('engine-aware choice with a known batch size: a slow peer with free batch slots beats a fast one that would queue', (t) => {
  const peers: RouterPeer[] = [
    // Batch of 8 (4 running use half the KV cache), slow decoder.
    { id: 'slow', baseUrl: 'http://127.0.0.1:1', engine: { running: 4, waiting: 0, kvCacheUsage: 0.5 } },
    // Batch of 8 full, 2 queued, fast decoder.
    { id: 'fast', baseUrl: 'http://127.0.0.1:2', engine: { running: 8, waiting: 2, kvCacheUsage: 1 } },
  ];
  const tbl = table(peers);
  t.after(() => tbl.destroy());
  const s = tbl.acquire(new Set(['fast']))!;
  const f = tbl.acquire(new Set(['slow']))!;
  tbl.noteStream(s, 11, 800);
  tbl.noteStream(f, 11, 200);
  tbl.release(s);
  tbl.release(f);
  // slow has 4 free slots: the next 4 start at once there; only then is queueing compared.
  const picks: string[] = [];
  for (let i = 0; i < 4; i++) picks.push(tbl.acquire()!.id);
  assert.deepEqual(picks, ['slow', 'slow', 'slow', 'slow']);
});

test('no engine metrics: falls back to outstanding requests (equal peers share)', (t) => {
  const peers: RouterPeer[] = [
    { id: 'a', baseUrl: 'http://127.0.0.1:1' },
    { id: 'b', baseUrl: 'http://127.0.0.1:2' },
  ];
  const tbl = table(peers);
  t.after(() => tbl.destroy());
  const count = { a: 0, b: 0 } as Record<string, number>;
  for (let i = 0; i < 8; i++) count[tbl.acquire()!.id]!++;
  assert.deepEqual(count, { a: 4, b: 4 });
});

test('through the router: requests go to the peer whose gossiped engine load is lowest', async (t) => {
  const servers: http.Server[] = [];
  const start = async (id: string): Promise<string> => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ served: id }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const peers: RouterPeer[] = [
    { id: 'queued', baseUrl: await start('queued'), engine: { running: 16, waiting: 9, kvCacheUsage: 1 } },
    { id: 'free', baseUrl: await start('free'), engine: { running: 2, waiting: 0, kvCacheUsage: 0.1 } },
  ];
  const router = createRouter({ port: 0, peers: () => peers });
  const { url } = await router.start();
  t.after(async () => {
    await router.stop({ graceMs: 0 });
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });
  const served: string[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 200);
    served.push(((await res.json()) as { served: string }).served);
  }
  assert.deepEqual(served, Array(6).fill('free'));
});

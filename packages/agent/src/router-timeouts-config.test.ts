/**
 * The cluster config's router block reaches the router the way node-runtime.ts passes it
 * (`...spec.router` into createRouter), after the user-data round trip a node makes: a peer
 * that accepts and never answers costs `firstByteTimeout` from the config (300 ms here,
 * not the 2-minute default), the request is served by the other peer, and the silent one
 * is held for `peerHold` (no further request waits on it). Loopback only, about a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { deserializeCluster, serializeCluster, validateCluster } from '@synkti/core';
import { createRouter } from './router/router.ts';

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function post(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/completions`, { method: 'POST', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end('{}');
  });
}

test(
  'router timeouts from the cluster config: a silent peer costs the configured first-byte timeout, then is held',
  { timeout: 30_000 },
  async () => {
    const spec = deserializeCluster(
      serializeCluster(
        validateCluster({
          name: 'router-config',
          pools: { worker: { count: 2 } },
          router: { firstByteTimeout: '300ms', peerHold: '60s' },
        }),
      ),
    );
    assert.deepEqual(spec.router, { firstByteTimeoutMs: 300, peerHoldMs: 60_000 });
    // Accepts, reads the request, never answers: what a wedged workload does.
    const silent = http.createServer((req) => {
      req.resume();
    });
    const live = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('live'));
    });
    const failures: Array<{ peerId: string; code: string | undefined }> = [];
    const router = createRouter({
      port: 0,
      peers: () => peers,
      ...spec.router,
      onUpstreamFailure: (peerId, error) => failures.push({ peerId, code: (error as { code?: string }).code }),
    });
    let peers: Array<{ id: string; baseUrl: string }> = [];
    try {
      peers = [
        { id: 'silent', baseUrl: await listen(silent) },
        { id: 'live', baseUrl: await listen(live) },
      ];
      const { url } = await router.start();
      // Ties are broken at random: one request at a time until one has tried the silent peer (bounded).
      for (let i = 0; i < 30 && failures.length === 0; i++) {
        const started = Date.now();
        const reply = await post(url);
        assert.deepEqual(reply, { status: 200, body: 'live' }, `request ${i}`);
        if (failures.length > 0) {
          const ms = Date.now() - started;
          assert.ok(
            ms >= 250 && ms < 10_000,
            `the request that tried the silent peer took ${ms} ms: the config's 300 ms, not the 2-minute default`,
          );
        }
      }
      assert.deepEqual(failures, [{ peerId: 'silent', code: 'UND_ERR_HEADERS_TIMEOUT' }]);
      for (let i = 0; i < 10; i++) assert.equal((await post(url)).body, 'live');
      assert.equal(failures.length, 1, 'held for the configured peerHold: no request waited on it again');
    } finally {
      await router.stop({ graceMs: 0 });
      silent.closeAllConnections();
      live.closeAllConnections();
      await Promise.all([silent, live].map((s) => new Promise((r) => s.close(r))));
    }
  },
);

/**
 * How the demo's client classifies what it saw, against a small server that answers each
 * request in a chosen way: a complete stream is ok; a stream cut after it began is failed
 * and cutMidStream; an error status is failed but not cut; with client retries off, a
 * refused connection is failed after one attempt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freeLoopbackPort } from '@synkti/core';
import { LoadGenerator, summarizeOutcomes, type RequestOutcome } from './load-generator.ts';

type Mode = 'complete' | 'cut' | 'status503';

async function server(mode: Mode): Promise<{ url: string; server: Server }> {
  const s = createServer((req, res) => {
    req.resume();
    if (mode === 'status503') {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end('{"error":"draining"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"choices":[{"delta":{"content":"a"}}]}\n\n');
    if (mode === 'complete') res.end('data: [DONE]\n\n');
    else setTimeout(() => res.destroy(), 20);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, server: s };
}

/** Runs one client until it has `count` outcomes (bounded), then stops it. */
async function outcomes(endpoint: string, count: number, retryConnectionFailures = true): Promise<RequestOutcome[]> {
  const load = new LoadGenerator({
    endpoints: () => [endpoint],
    concurrency: 1,
    healthChecks: false,
    retryConnectionFailures,
    requestTimeoutMs: 5000,
  });
  load.start();
  try {
    const until = Date.now() + 10_000;
    while (load.outcomes.length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  } finally {
    await load.stop();
  }
  assert.ok(load.outcomes.length >= count, `${load.outcomes.length} outcomes in 10 s`);
  return load.outcomes;
}

test('complete, cut and refused streams are told apart', async (t) => {
  const complete = await server('complete');
  const cut = await server('cut');
  const unavailable = await server('status503');
  t.after(() => {
    for (const s of [complete, cut, unavailable]) {
      s.server.closeAllConnections();
      s.server.close();
    }
  });

  for (const o of await outcomes(complete.url, 3)) assert.deepEqual([o.ok, o.cutMidStream], [true, undefined]);
  for (const o of await outcomes(cut.url, 3)) {
    assert.equal(o.ok, false);
    assert.equal(o.cutMidStream, true, `a stream that began and broke is cut: ${o.error}`);
  }
  for (const o of await outcomes(unavailable.url, 3)) assert.deepEqual([o.ok, o.cutMidStream, o.error], [false, undefined, 'HTTP 503']);

  // Nothing listens there: without client retries each request fails once, no other endpoint tried.
  const closed = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const [refused] = await outcomes(closed, 1, false);
  assert.deepEqual(
    [refused!.ok, refused!.router, refused!.error, refused!.cutMidStream],
    [false, closed, 'connection failed before any response (ECONNREFUSED)', undefined],
  );
});

test('summarizeOutcomes: failures grouped by what the client saw; latency percentiles of complete streams only', () => {
  const at = { router: 'r', servedBy: undefined, startedAt: 0 };
  const summary = summarizeOutcomes([
    { ...at, ok: true, ms: 100 },
    { ...at, ok: true, ms: 300 },
    { ...at, ok: true, ms: 200 },
    { ...at, ok: false, ms: 5000, error: 'stream aborted' },
    { ...at, ok: false, ms: 7, error: 'stream aborted' },
    { ...at, ok: false, ms: 1 },
  ]);
  assert.deepEqual(summary, { requests: 6, failed: 3, p50Ms: 200, p99Ms: 300, failures: { 'stream aborted': 2, unknown: 1 } });
});

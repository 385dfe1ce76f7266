import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { ROUTER_HEALTH_PATH, createRouter, type RouterOptions, type RouterPeer } from './router.ts';

// --- helpers: small real upstreams and a plain client -------------------------------------

interface Upstream {
  id: string;
  url: string;
  hits: number;
  server: http.Server;
}

async function startUpstream(
  t: TestContext,
  id: string,
  handler: (req: http.IncomingMessage, res: http.ServerResponse, up: Upstream) => void,
): Promise<Upstream> {
  const up: Upstream = { id, url: '', hits: 0, server: undefined as unknown as http.Server };
  up.server = http.createServer((req, res) => {
    up.hits++;
    handler(req, res, up);
  });
  up.server.listen(0, '127.0.0.1');
  await once(up.server, 'listening');
  up.url = `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`;
  t.after(() => {
    up.server.closeAllConnections();
    up.server.close();
  });
  return up;
}

function okHandler(delayMs = 0) {
  return (req: http.IncomingMessage, res: http.ServerResponse, up: Upstream): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            served: up.id,
            body: Buffer.concat(chunks).toString(),
            host: req.headers.host,
            xff: req.headers['x-forwarded-for'],
          }),
        );
      }, delayMs);
    });
  };
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = http.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startRouter(t: TestContext, options: Omit<RouterOptions, 'port'>) {
  const registry = options.registry ?? new Registry();
  const router = createRouter({ port: 0, ...options, registry });
  const { url, port } = await router.start();
  t.after(() => router.stop({ graceMs: 0 }));
  return { router, url, port, registry };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(
  url: string,
  options: { method?: string; path?: string; body?: string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${options.path ?? '/v1/completions'}`,
      {
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        headers: options.headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `metric ${name} is registered`);
  const data = await metric.get();
  let total = 0;
  for (const v of data.values) {
    if (Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val)) total += v.value;
  }
  return total;
}

function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** Retries `attempt` (bounded) until it is refused with ECONNREFUSED; returns its last outcome. */
async function untilRefused<T>(attempt: () => Promise<T>, timeoutMs = 3000): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      const result = await attempt();
      if (Date.now() - started > timeoutMs) return result;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED' || Date.now() - started > timeoutMs) throw error;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

const peersOf = (...ups: Upstream[]): RouterPeer[] => ups.map((u) => ({ id: u.id, baseUrl: u.url }));

// --- tests ---------------------------------------------------------------------------------

test('health endpoint answers 200 without any peer, 503 while the node is not healthy', async (t) => {
  let healthy = true;
  const { url } = await startRouter(t, { peers: () => [], healthy: () => healthy });
  assert.equal((await send(url, { path: ROUTER_HEALTH_PATH })).status, 200);
  healthy = false;
  assert.equal((await send(url, { path: ROUTER_HEALTH_PATH })).status, 503);
});

test('balances by outstanding requests: the slow peer gets fewer, equal peers share', async (t) => {
  const a = await startUpstream(t, 'fast-a', okHandler(5));
  const b = await startUpstream(t, 'fast-b', okHandler(5));
  // The slow peer must stay slow relative to the fast ones' whole round trip, not just their
  // 5 ms handler: at load ~30 (two busy loops on 2 cores) a fast round trip grew to tens of ms
  // and a 150 ms peer got 23 of 90 against 32 and 35. 600 ms keeps it >10x slower there too.
  const slow = await startUpstream(t, 'slow', okHandler(600));
  const { url, registry } = await startRouter(t, { peers: () => peersOf(a, b, slow) });
  const served: Record<string, number> = {};
  // 6 clients in closed loops for a fixed number of requests each.
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      for (let i = 0; i < 15; i++) {
        const reply = await send(url);
        assert.equal(reply.status, 200);
        const peer = String(reply.headers['x-synkti-peer']);
        assert.equal(JSON.parse(reply.body).served, peer);
        served[peer] = (served[peer] ?? 0) + 1;
      }
    }),
  );
  const fastA = served['fast-a'] ?? 0;
  const fastB = served['fast-b'] ?? 0;
  const slowN = served.slow ?? 0;
  t.diagnostic(`served: slow ${slowN}, fast ${fastA} and ${fastB}`);
  assert.equal(fastA + fastB + slowN, 90);
  assert.ok(slowN < fastA / 2 && slowN < fastB / 2, `slow peer got ${slowN}, fast ones ${fastA} and ${fastB}`);
  assert.ok(Math.abs(fastA - fastB) < 0.5 * Math.max(fastA, fastB), `equal peers share: ${fastA} vs ${fastB}`);
  assert.equal(await metricValue(registry, 'synkti_router_requests_total', { code: '200' }), 90);
});

test('ties are not always broken toward the first peer', async (t) => {
  const a = await startUpstream(t, 'a', okHandler());
  const b = await startUpstream(t, 'b', okHandler());
  const { url } = await startRouter(t, { peers: () => peersOf(a, b) });
  // One request at a time: both peers always tie at 0 in flight.
  for (let i = 0; i < 40; i++) assert.equal((await send(url)).status, 200);
  assert.ok(a.hits >= 8 && b.hits >= 8, `a=${a.hits} b=${b.hits}`);
});

test('retries on another peer when one refuses connections: no client error', async (t) => {
  const refused: RouterPeer = { id: 'refusing', baseUrl: `http://127.0.0.1:${await deadPort()}` };
  const a = await startUpstream(t, 'a', okHandler());
  const b = await startUpstream(t, 'b', okHandler());
  const failures: string[] = [];
  const { url, registry } = await startRouter(t, {
    peers: () => [refused, ...peersOf(a, b)],
    onUpstreamFailure: (peer) => failures.push(peer),
  });
  const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => send(url, { body: `prompt ${i}` })));
  for (const [i, reply] of replies.entries()) {
    assert.equal(reply.status, 200);
    assert.notEqual(reply.headers['x-synkti-peer'], 'refusing');
    const echoed = JSON.parse(reply.body);
    assert.equal(echoed.body, `prompt ${i}`, 'the buffered body is sent again on retry');
    assert.equal(echoed.host, new URL(reply.headers['x-synkti-peer'] === 'a' ? a.url : b.url).host, 'host names the upstream');
    assert.equal(echoed.xff, '127.0.0.1');
  }
  assert.ok(failures.length > 0 && failures.every((p) => p === 'refusing'));
  assert.ok((await metricValue(registry, 'synkti_router_retries_total')) > 0);
});

test('502 when the only peer refuses and there is no other to try', async (t) => {
  const refused: RouterPeer = { id: 'refusing', baseUrl: `http://127.0.0.1:${await deadPort()}` };
  const { url } = await startRouter(t, { peers: () => [refused] });
  const reply = await send(url);
  assert.equal(reply.status, 502);
  assert.match(JSON.parse(reply.body).error.message, /refusing/);
});

test('a request handed back with x-synkti-retry: 1 is served by another peer', async (t) => {
  const draining = await startUpstream(t, 'draining', (req, res) => {
    req.resume();
    res.writeHead(503, { 'x-synkti-retry': '1', 'content-type': 'application/json' });
    res.end('{"error":"draining"}');
  });
  const healthy = await startUpstream(t, 'healthy', okHandler());
  const { url, registry } = await startRouter(t, { peers: () => peersOf(draining, healthy) });
  for (let i = 0; i < 10; i++) {
    const reply = await send(url, { body: `job ${i}` });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-synkti-peer'], 'healthy');
    assert.equal(reply.headers['x-synkti-retry'], undefined);
    assert.equal(JSON.parse(reply.body).body, `job ${i}`);
  }
  assert.ok(draining.hits > 0, 'the draining peer was tried at least once');
  assert.equal(await metricValue(registry, 'synkti_router_errors_total', { reason: 'handback' }), draining.hits);
});

test('a peer removed from peers() gets no new request', async (t) => {
  const a = await startUpstream(t, 'a', okHandler());
  const b = await startUpstream(t, 'b', okHandler());
  let peers = peersOf(a, b);
  const { url } = await startRouter(t, { peers: () => peers });
  await Promise.all(Array.from({ length: 20 }, () => send(url)));
  assert.ok(b.hits > 0);
  peers = peersOf(a);
  const before = b.hits;
  const replies = await Promise.all(Array.from({ length: 20 }, () => send(url)));
  assert.ok(replies.every((r) => r.status === 200 && r.headers['x-synkti-peer'] === 'a'));
  assert.equal(b.hits, before);
});

test('SSE streams through unbuffered: the first event arrives long before the last', async (t) => {
  const sse = await startUpstream(t, 'sse', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const tick = (): void => {
      res.write(`data: {"token":${n}}\n\n`);
      if (++n < 5) setTimeout(tick, 150);
      else res.end('data: [DONE]\n\n');
    };
    tick();
  });
  const { url } = await startRouter(t, { peers: () => peersOf(sse) });
  const started = Date.now();
  const { firstAt, endAt, text } = await new Promise<{ firstAt: number; endAt: number; text: string }>((resolve, reject) => {
    http
      .get(`${url}/v1/chat/completions`, { agent: false }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let firstAt = 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (firstAt === 0) firstAt = Date.now() - started;
          text += c;
        });
        res.on('end', () => resolve({ firstAt, endAt: Date.now() - started, text }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  assert.ok(endAt >= 550, `stream lasted ${endAt} ms`);
  assert.ok(firstAt < 200, `first event after ${firstAt} ms`);
  assert.equal(text.match(/^data:/gm)?.length, 6);
});

test('upstream dying mid-stream: the client sees an abnormal end, quickly', async (t) => {
  const dying = await startUpstream(t, 'dying', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"token":0}\n\n');
    setTimeout(() => res.socket?.destroy(), 50);
  });
  const failures: string[] = [];
  const { url, router } = await startRouter(t, { peers: () => peersOf(dying), onUpstreamFailure: (p) => failures.push(p) });
  const started = Date.now();
  const outcome = await new Promise<{ got: string; complete: boolean }>((resolve) => {
    http
      .get(`${url}/v1/chat/completions`, { agent: false }, (res) => {
        let got = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (got += c));
        res.on('error', () => {});
        res.on('close', () => resolve({ got, complete: res.complete }));
      })
      .on('error', () => resolve({ got: '', complete: false }));
  });
  assert.match(outcome.got, /token":0/);
  assert.equal(outcome.complete, false, 'the stream must end abnormally, not look complete');
  assert.ok(Date.now() - started < 2000, 'no hang');
  assert.deepEqual(failures, ['dying']);
  await until(() => router.inFlight() === 0);
});

test('upstream dying after headers but before any byte: retried on another peer', async (t) => {
  const flaky = await startUpstream(t, 'flaky', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const good = await startUpstream(t, 'good', okHandler());
  // Only the flaky peer first, so the first attempt surely goes there.
  let peers = peersOf(flaky);
  const { url } = await startRouter(t, { peers: () => peers });
  const pending = send(url);
  await until(() => flaky.hits === 1);
  peers = peersOf(flaky, good);
  const reply = await pending;
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['x-synkti-peer'], 'good');
});

test('saturation: bounded queue, then 503 with Retry-After; queued requests are served in turn', async (t) => {
  const held: http.ServerResponse[] = [];
  const gate = await startUpstream(t, 'gate', (req, res) => {
    req.resume();
    held.push(res);
  });
  const { url, registry, router } = await startRouter(t, {
    peers: () => peersOf(gate),
    maxInFlightPerPeer: 2,
    maxQueue: 3,
    queueTimeoutMs: 5000,
  });
  const replies = Array.from({ length: 8 }, () => send(url));
  const settled: Reply[] = [];
  for (const p of replies) void p.then((r) => settled.push(r));
  await until(() => settled.length === 3 && held.length === 2);
  for (const r of settled) {
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
  }
  assert.equal(await metricValue(registry, 'synkti_router_queue_length'), 3);
  assert.equal(router.inFlight(), 5);
  // Let the upstream answer everything; queued requests go through, at most 2 at once.
  let maxHeld = 0;
  while (settled.length < 8) {
    await until(() => held.length > 0 || settled.length === 8);
    maxHeld = Math.max(maxHeld, held.length);
    for (const res of held.splice(0)) res.end('ok');
  }
  assert.ok(maxHeld <= 2);
  assert.equal(settled.filter((r) => r.status === 200).length, 5);
  assert.equal(gate.hits, 5);
});

test('no ready peers: waits in the queue, is served when a peer appears, else 503 after queueTimeoutMs', async (t) => {
  const late = await startUpstream(t, 'late', okHandler());
  let peers: RouterPeer[] = [];
  const { url } = await startRouter(t, { peers: () => peers, queueTimeoutMs: 400 });
  const started = Date.now();
  const timedOut = await send(url);
  const waited = Date.now() - started;
  assert.equal(timedOut.status, 503);
  assert.ok(timedOut.headers['retry-after']);
  assert.ok(waited >= 380 && waited < 2000, `waited ${waited} ms`);

  const pending = send(url);
  setTimeout(() => (peers = peersOf(late)), 100);
  const reply = await pending;
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['x-synkti-peer'], 'late');
});

test('request timeout: 504 when nothing was sent, cut connection when streaming', async (t) => {
  const silent = await startUpstream(t, 'silent', (req) => req.resume());
  const trickle = await startUpstream(t, 'trickle', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 0\n\n');
  });
  let peers = peersOf(silent);
  const { url, registry } = await startRouter(t, { peers: () => peers, requestTimeoutMs: 300 });
  const started = Date.now();
  const reply = await send(url);
  assert.equal(reply.status, 504);
  assert.ok(Date.now() - started < 1500);

  peers = peersOf(trickle);
  const complete = await new Promise<boolean>((resolve) => {
    http
      .get(`${url}/v1/chat/completions`, { agent: false }, (res) => {
        res.resume();
        res.on('error', () => {});
        res.on('close', () => resolve(res.complete));
      })
      .on('error', () => resolve(false));
  });
  assert.equal(complete, false);
  assert.equal(await metricValue(registry, 'synkti_router_errors_total', { reason: 'timeout' }), 2);
});

test('client abort cancels the upstream request', async (t) => {
  let upstreamClosed = false;
  const holding = await startUpstream(t, 'holding', (req, res) => {
    req.resume();
    res.on('close', () => (upstreamClosed = true));
  });
  const { url, router, registry } = await startRouter(t, { peers: () => peersOf(holding) });
  const req = http.get(`${url}/v1/completions`, { agent: false });
  req.on('error', () => {});
  await until(() => holding.hits === 1);
  assert.equal(router.inFlight(), 1);
  req.destroy();
  await until(() => upstreamClosed);
  await until(() => router.inFlight() === 0);
  assert.equal(await metricValue(registry, 'synkti_router_requests_total', { code: '499' }), 1);
});

test('413 for a body over 8 MiB, before it is uploaded', async (t) => {
  const up = await startUpstream(t, 'up', okHandler());
  const { url } = await startRouter(t, { peers: () => peersOf(up) });
  const reply = await new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      `${url}/v1/completions`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-length': String(9 * 1024 * 1024) },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.flushHeaders(); // headers only: the router must answer without reading the body
  });
  assert.equal(reply.status, 413);
  assert.equal(up.hits, 0);
  // A body just under the limit goes through.
  const ok = await send(url, { body: 'x'.repeat(8 * 1024 * 1024 - 100) });
  assert.equal(ok.status, 200);
});

test('stop() lets in-flight requests finish, then refuses new connections', async (t) => {
  const slow = await startUpstream(t, 'slow', okHandler(300));
  const router = createRouter({ port: 0, peers: () => peersOf(slow) });
  const { url } = await router.start();
  t.after(() => router.stop({ graceMs: 0 }));
  const pending = send(url);
  await until(() => slow.hits === 1);
  let stopped = false;
  const stopping = router.stop({ graceMs: 5000 }).then(() => (stopped = true));
  // While the request is still running: no new connection, and stop() has not returned.
  await assert.rejects(send(url), /ECONNREFUSED/);
  assert.equal(stopped, false);
  assert.equal(router.inFlight(), 1);
  const reply = await pending;
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['x-synkti-peer'], 'slow');
  await stopping;
  assert.equal(router.inFlight(), 0);
  await router.stop(); // idempotent
});

test('stop() cuts requests still running after graceMs', async (t) => {
  const hang = await startUpstream(t, 'hang', (req) => req.resume());
  const router = createRouter({ port: 0, peers: () => peersOf(hang) });
  const { url } = await router.start();
  const pending = send(url).then(
    (r) => r.status,
    () => 'error',
  );
  await until(() => hang.hits === 1);
  const started = Date.now();
  assert.equal(await router.stop({ graceMs: 200 }), 1, 'stop() reports the one request it cut');
  assert.ok(Date.now() - started < 1500);
  assert.equal(await pending, 503);
  t.after(() => router.stop());
});

// --- drain: the router lets go of its clients before it stops ----------------------------

/** Sends on `agent` (keep-alive) and reports whether the request got any response at all. */
function sendOn(agent: http.Agent, url: string, onHeaders?: () => void): Promise<Reply & { reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/completions`, { method: 'POST', agent }, (res) => {
      onHeaders?.();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end('{}');
  });
}

/** An upstream that sends its headers and a first event at once, then the rest when `release()` is called. */
async function gatedStream(t: TestContext, id: string) {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const up = await startUpstream(t, id, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"token":0}\n\n');
    void released.then(() => res.end('data: {"token":1}\n\ndata: [DONE]\n\n'));
  });
  return { up, release };
}

test('drain: health 503 at once, keep-alive clients get connection: close and their connection goes', { timeout: 20_000 }, async (t) => {
  const up = await startUpstream(t, 'peer', okHandler());
  const { router, url } = await startRouter(t, { peers: () => peersOf(up) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const before = await sendOn(agent, url);
  assert.equal(before.headers.connection, 'keep-alive');
  assert.equal(router.connections(), 1, 'the client keeps its connection open');
  assert.ok(router.idleForMs() > 0);

  router.drain({ cutoffInMs: 60_000, idleCloseMs: 60_000 });
  const health = await send(url, { path: ROUTER_HEALTH_PATH });
  assert.equal(health.status, 503);
  assert.equal(health.body, 'draining\n');
  assert.equal(health.headers.connection, 'close');
  // The kept-alive connection is still usable: its next request is served, and told to close.
  const during = await sendOn(agent, url);
  assert.equal(during.reusedSocket, true);
  assert.equal(during.status, 200);
  assert.equal(JSON.parse(during.body).served, 'peer');
  assert.equal(during.headers.connection, 'close');
  await until(() => router.connections() === 0);
  // A new connection before the cut-off is served too, and closed after its response.
  const fresh = await send(url, { body: '{}' });
  assert.equal(fresh.status, 200);
  assert.equal(fresh.headers.connection, 'close');
  assert.equal(up.hits, 3);
});

test('drain: a connection left idle is closed after idleCloseMs, without a byte sent on it', { timeout: 20_000 }, async (t) => {
  const up = await startUpstream(t, 'peer', okHandler());
  const { router, port } = await startRouter(t, { peers: () => peersOf(up) });
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => (received += c));
  const closed = once(socket, 'close');
  socket.write('GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n');
  await until(() => received.includes('"served":"peer"'));
  const answered = received.length;
  assert.equal(router.connections(), 1);
  const drainedAt = Date.now();
  router.drain({ cutoffInMs: 60_000, idleCloseMs: 150 });
  await closed;
  const waited = Date.now() - drainedAt;
  assert.ok(waited >= 140, `closed ${waited} ms after the drain began: not before idleCloseMs`);
  assert.equal(received.length, answered, 'nothing was written on the idle connection before it closed');
  await until(() => router.connections() === 0);
});

test(
  'drain: with idleCloseAfterMs, an idle pooled connection stays usable until then (a balancer reusing it is not reset), then closes',
  { timeout: 20_000 },
  async (t) => {
    const up = await startUpstream(t, 'peer', okHandler());
    const { router, url } = await startRouter(t, { peers: () => peersOf(up) });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    await sendOn(agent, url);
    const drainedAt = Date.now();
    router.drain({ cutoffInMs: 60_000, idleCloseMs: 100, idleCloseAfterMs: 2000 });
    // Idle for longer than idleCloseMs, still inside idleCloseAfterMs: the pooled connection is reused.
    await new Promise((r) => setTimeout(r, 300));
    const reused = await sendOn(agent, url);
    const reusedAfter = Date.now() - drainedAt;
    if (reusedAfter < 2000) {
      assert.equal(reused.reusedSocket, true, 'the idle pooled connection was still open');
      assert.equal(reused.status, 200);
    }
    assert.equal(reused.headers.connection, 'close', 'and told to close after its response');
    // A connection made now and left idle is closed once idleCloseAfterMs has passed.
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    t.after(() => socket.destroy());
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    await closed;
    const waited = Date.now() - drainedAt;
    assert.ok(waited >= 2000, `an idle connection closed ${waited} ms after the drain began: not before idleCloseAfterMs`);
  },
);

test('drain: requests still arriving go to peers; the own workload serves only when no peer is listed', { timeout: 20_000 }, async (t) => {
  const self = await startUpstream(t, 'self', okHandler());
  const other = await startUpstream(t, 'other', okHandler());
  let peers = peersOf(other);
  const { router, url } = await startRouter(t, { peers: () => peers });
  router.drain({ cutoffInMs: 60_000, fallbackPeer: { id: self.id, baseUrl: self.url } });
  for (let i = 0; i < 5; i++) {
    const reply = await send(url, { body: '{}' });
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).served, 'other');
  }
  assert.equal(self.hits, 0, 'never sent to the own workload while a peer is listed');
  peers = [];
  const last = await send(url, { body: '{}' });
  assert.equal(last.status, 200, 'with no peer left the request is still served, not refused');
  assert.equal(JSON.parse(last.body).served, 'self');
});

test(
  'drain cut-off: new connections refused; a request on a connection that outlived it fails before any byte',
  { timeout: 20_000 },
  async (t) => {
    const { up, release } = await gatedStream(t, 'stream');
    const { router, url } = await startRouter(t, { peers: () => peersOf(up) });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    // A stream whose headers went out before the drain: its connection stays keep-alive.
    let headersIn = false;
    const streaming = sendOn(agent, url, () => (headersIn = true));
    await until(() => headersIn);
    router.drain({ cutoffInMs: 0, idleCloseMs: 60_000 });
    await until(() => router.idleForMs() === 0 && router.connections() === 1);
    // The cut-off is a timer: until it fires connections are still taken (a connection caught
    // by it fails before any byte too); after it, connecting is refused.
    // (The health path: answered by the router itself, so it never waits on the gated stream.)
    await assert.rejects(
      untilRefused(() => send(url, { path: ROUTER_HEALTH_PATH })),
      /ECONNREFUSED/,
    );
    release();
    const reply = await streaming;
    assert.equal(reply.status, 200);
    assert.match(reply.body, /\[DONE\]/, 'the stream in flight at the cut-off ran to its end');
    assert.equal(reply.headers.connection, 'keep-alive');
    // The client reuses its connection at once: nothing is forwarded, and it gets no byte.
    const late = await sendOn(agent, url).then(
      (r) => r,
      (error: NodeJS.ErrnoException & { reusedSocket?: boolean }) => error,
    );
    assert.ok(late instanceof Error, `expected a connection error, got HTTP ${(late as Reply).status}`);
    assert.equal(late.reusedSocket, true);
    assert.match(String(late.code ?? late.message), /ECONNRESET|socket hang up/);
    assert.equal(up.hits, 1);
    assert.equal(await router.stop({ graceMs: 1000 }), 0);
  },
);

test(
  'drain: a stream in flight is not cut by a grace: it runs to its end, then stop() has nothing to cut',
  { timeout: 20_000 },
  async (t) => {
    const slowStream = await startUpstream(t, 'slow', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const tick = (): void => {
        res.write(`data: {"token":${n}}\n\n`);
        if (++n < 12) setTimeout(tick, 100);
        else res.end('data: [DONE]\n\n');
      };
      tick();
    });
    const { router, url } = await startRouter(t, { peers: () => peersOf(slowStream) });
    const streaming = send(url, { body: '{}' });
    await until(() => slowStream.hits === 1);
    router.drain({ cutoffInMs: 0, idleCloseMs: 50 });
    const drainedAt = Date.now();
    // stop() waits for requests in flight up to its grace (here far longer than the stream).
    const cut = await router.stop({ graceMs: 10_000 });
    const reply = await streaming;
    assert.equal(cut, 0);
    assert.ok(Date.now() - drainedAt >= 900, 'the stream outlived any short fixed grace');
    assert.equal(reply.body.match(/^data:/gm)?.length, 13, 'every token and [DONE] arrived');
  },
);

test('drain: cutoffInMs must be a non-negative number', { timeout: 20_000 }, async (t) => {
  const { router } = await startRouter(t, { peers: () => [] });
  assert.throws(() => router.drain({ cutoffInMs: -1 }), /cutoffInMs/);
  assert.throws(() => router.drain({ cutoffInMs: Number.NaN }), /cutoffInMs/);
});

test('invalid options fail with a SynktiError naming the option', () => {
  assert.throws(() => createRouter({ peers: () => [], maxInFlightPerPeer: 0 }), /maxInFlightPerPeer/);
});

/**
 * The router against peers that go silent instead of refusing (issue 23): a peer that
 * never answers costs one first-byte timeout and is then held (no new request for a
 * while), and a peer that membership lost has its unanswered requests sent elsewhere and
 * its quiet streams cut within a second, not when some long timeout fires; a stream still
 * flowing from a "lost" peer (a stale report after a partition heals) runs to its end. (The connect timeout needs an
 * address that drops SYNs: tests/demo-partition.test.ts covers it between namespaces.)
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { createRouter, type RouterOptions, type RouterPeer } from './router.ts';

interface Upstream {
  id: string;
  url: string;
  hits: number;
}

async function startUpstream(
  t: TestContext,
  id: string,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<Upstream> {
  const up: Upstream = { id, url: '', hits: 0 };
  const server = http.createServer((req, res) => {
    up.hits++;
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return up;
}

/** Answers at once. */
function ok(id: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume();
    req.on('end', () => res.end(`served by ${id}`));
  };
}

/** Reads the request and never answers: a peer whose packets stopped coming back. */
function silent(req: http.IncomingMessage): void {
  req.resume();
}

async function startRouter(t: TestContext, options: Omit<RouterOptions, 'port'>) {
  const router = createRouter({ port: 0, ...options });
  const { url } = await router.start();
  t.after(() => router.stop({ graceMs: 0 }));
  return { router, url };
}

interface Outcome {
  status: number;
  body: string;
  error?: string;
  ms: number;
}

/** One request; resolves when the response ends or breaks (never rejects). `onHead` sees the head. */
function send(url: string, onHead?: (res: http.IncomingMessage) => void): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = http.request(`${url}/v1/completions`, { method: 'POST', agent: false }, (res) => {
      onHead?.(res);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, body, error: e.message, ms: Date.now() - started }));
    });
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message, ms: Date.now() - started }));
    req.end('{}');
  });
}

test(
  'a peer that never answers costs one first-byte timeout: the request is served elsewhere and the peer is held',
  { timeout: 20_000 },
  async (t) => {
    const mute = await startUpstream(t, 'mute', silent);
    const live = await startUpstream(t, 'live', ok('live'));
    const peers: RouterPeer[] = [
      { id: 'mute', baseUrl: mute.url },
      { id: 'live', baseUrl: live.url },
    ];
    const { url } = await startRouter(t, { peers: () => peers, firstByteTimeoutMs: 300, peerHoldMs: 30_000 });
    // Ties are broken at random: send one at a time until the mute peer has had one (bounded).
    for (let i = 0; i < 30 && mute.hits === 0; i++) {
      const reply = await send(url);
      assert.equal(reply.status, 200, `request ${i}: ${reply.error ?? reply.body}`);
      assert.equal(reply.body, 'served by live');
    }
    assert.equal(mute.hits, 1, 'the mute peer got a request');
    // Held: every later request goes straight to the live peer, without waiting on the mute one
    // (the mute peer's hit count is the evidence: a time bound failed at load ~20, 292 ms).
    for (let i = 0; i < 10; i++) {
      const reply = await send(url);
      assert.equal(reply.status, 200);
      assert.equal(reply.body, 'served by live');
    }
    assert.equal(mute.hits, 1, 'no request went to the held peer');
  },
);

test('peerLost: a request not yet answered goes to another peer, a quiet stream under way is cut', { timeout: 20_000 }, async (t) => {
  // The lost peer began one stream (head and a first chunk) and then went silent; it took a
  // second request and never answered it.
  const lost = await startUpstream(t, 'lost', (req, res) => {
    req.resume();
    if (req.headers['x-test'] === 'stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
    }
  });
  const other = await startUpstream(t, 'other', ok('other'));
  let peers: RouterPeer[] = [{ id: 'lost', baseUrl: lost.url }];
  const { router, url } = await startRouter(t, { peers: () => peers });

  let headSeen!: () => void;
  const streaming = new Promise<void>((r) => {
    headSeen = r;
  });
  const stream = new Promise<Outcome>((resolve) => {
    const started = Date.now();
    const req = http.request(`${url}/v1/completions`, { method: 'POST', agent: false, headers: { 'x-test': 'stream' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
        headSeen();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, body, error: e.message, ms: Date.now() - started }));
    });
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message, ms: Date.now() - started }));
    req.end('{}');
  });
  await streaming;
  const waiting = send(url);
  const deadline = Date.now() + 5000;
  while (lost.hits < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(lost.hits, 2, 'both requests reached the peer before it was lost');

  // Membership: the peer is gone from the ready set, another one is there.
  peers = [{ id: 'other', baseUrl: other.url }];
  const lostAt = Date.now();
  assert.equal(router.peerLost('lost'), 2, 'both exchanges on the lost peer were touched');
  const [cut, moved] = await Promise.all([stream, waiting]);
  assert.ok(cut.error !== undefined, `the stream under way ended in an error the client sees (got ${JSON.stringify(cut)})`);
  assert.equal(cut.body, 'data: first\n\n', 'the client had its first chunk and no false end');
  // lostPeerQuietMs (1 s) after its last byte; the rest is room for a busy machine.
  assert.ok(Date.now() - lostAt < 4000, `cut within 4 s of peerLost (took ${Date.now() - lostAt} ms)`);
  assert.equal(moved.status, 200, `the unanswered request was served elsewhere: ${moved.error ?? moved.body}`);
  assert.equal(moved.body, 'served by other');
  // The router counts the cut exchange done when its response closes, a turn after the client saw the error.
  const settled = Date.now() + 5000;
  while (router.inFlight() > 0 && Date.now() < settled) await new Promise((r) => setTimeout(r, 10));
  assert.equal(router.inFlight(), 0);
});

test(
  'peerLost: a stream still flowing from the "lost" peer runs to its end (a stale report after a heal)',
  { timeout: 20_000 },
  async (t) => {
    // The peer streams one event every 50 ms for ~1.5 s: it is alive and answering this router,
    // though membership (another node's stale view) just reported it lost.
    const events = 30;
    const lost = await startUpstream(t, 'flowing', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let sent = 0;
      const tick = setInterval(() => {
        res.write(`data: ${sent}\n\n`);
        if (++sent === events) {
          clearInterval(tick);
          res.end('data: [DONE]\n\n');
        }
      }, 50);
      res.on('close', () => clearInterval(tick));
    });
    const peers: RouterPeer[] = [{ id: 'flowing', baseUrl: lost.url }];
    // 3 s of quiet allowed: events are 50 ms apart, so only a stalled machine would see a gap that long.
    const { router, url } = await startRouter(t, { peers: () => peers, lostPeerQuietMs: 3000 });
    let headSeen!: () => void;
    const streaming = new Promise<void>((r) => {
      headSeen = r;
    });
    const stream = send(url, () => headSeen());
    await streaming; // the head left with the first event: the stream is under way
    assert.equal(router.peerLost('flowing'), 1, 'the stream was on the reported peer');
    const done = await stream;
    assert.equal(done.error, undefined, `the stream was not cut: ${done.error ?? ''}`);
    assert.equal(done.status, 200);
    assert.match(done.body, /data: 29\n\ndata: \[DONE\]/, 'every event arrived and the stream ended cleanly');
  },
);

test('router timeout options are checked', () => {
  assert.throws(() => createRouter({ peers: () => [], connectTimeoutMs: -1 }), /connectTimeoutMs must be an integer >= 0/);
  assert.throws(() => createRouter({ peers: () => [], firstByteTimeoutMs: 1.5 }), /firstByteTimeoutMs/);
  assert.throws(() => createRouter({ peers: () => [], streamIdleTimeoutMs: Number.NaN }), /streamIdleTimeoutMs/);
  assert.throws(() => createRouter({ peers: () => [], peerHoldMs: -5 }), /peerHoldMs/);
});

/**
 * A peer is an attacker: the router reads its responses with its own bounded parser
 * (packages/agent/src/router/upstream-response-parser.ts). Replayed against a real router
 * with a raw TCP "peer": an endless response head, an endless chunk-size line mid-stream,
 * a response framed two ways at once (smuggling), and a header value with a control byte.
 * Each must end in a 502 before any byte (another peer is tried first) or a cut stream,
 * never a response that looks whole, never the router buffering without bound, and the
 * router must keep serving.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { createRouter, type RouterPeer } from '../../packages/agent/src/router/router.ts';
import { recordAttack } from './attack-ledger.ts';

/** A raw TCP peer: `respond` gets each connection once its request head arrived. */
async function hostilePeer(t: TestContext, respond: (socket: net.Socket) => void): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let head = '';
    const onData = (b: Buffer): void => {
      head += b.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      respond(socket);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Writes `piece` until `sent` reaches `limit` bytes or the router closes the connection; resolves with the bytes written. */
function flood(socket: net.Socket, piece: string, limit: number): Promise<number> {
  return new Promise((resolve) => {
    let written = 0;
    const done = (): void => resolve(written);
    socket.once('close', done);
    const next = (): void => {
      while (written < limit && !socket.destroyed) {
        written += piece.length;
        if (!socket.write(piece, 'latin1')) {
          socket.once('drain', next);
          return;
        }
      }
      if (written >= limit) socket.end();
    };
    next();
  });
}

interface Outcome {
  status: number;
  body: string;
  error?: string;
}

function get(url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, body, error: e.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, error: 'aborted' }));
    });
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    req.setTimeout(20_000, () => req.destroy(new Error('client timeout')));
  });
}

async function routerFor(t: TestContext, peers: RouterPeer[]): Promise<{ url: string; failures: string[] }> {
  const failures: string[] = [];
  const router = createRouter({
    port: 0,
    peers: () => peers,
    retries: 0,
    onUpstreamFailure: (_id, e) => failures.push(String((e as { code?: string }).code)),
  });
  const { url } = await router.start();
  t.after(() => router.stop({ graceMs: 0 }));
  return { url, failures };
}

/** A peer that answers normally: the router must still serve after each attack. */
async function goodPeer(t: TestContext): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end('fine');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('an endless response head: 502 once past 16 KiB, the rest is not read', { timeout: 60_000 }, async (t) => {
  let floodDone: Promise<number> | undefined;
  const peer = await hostilePeer(t, (socket) => {
    floodDone = flood(socket, 'HTTP/1.1 200 OK\r\n' + 'x-pad: '.padEnd(1000, 'a') + '\r\n', 64 * 1024 * 1024);
  });
  const { url, failures } = await routerFor(t, [{ id: 'evil', baseUrl: peer }]);
  const outcome = await get(`${url}/v1/models`);
  const written = await floodDone!;
  const held = outcome.status === 502 && written < 8 * 1024 * 1024 && failures.includes('E_UPSTREAM_PROTOCOL');
  recordAttack('peer sends an endless response head: 502, connection dropped near 16 KiB', held);
  assert.equal(outcome.status, 502, JSON.stringify(outcome));
  assert.ok(
    written < 8 * 1024 * 1024,
    `the router read ${written} bytes of head before dropping the peer (bounded at 16 KiB plus socket buffers)`,
  );
  assert.deepEqual(failures, ['E_UPSTREAM_PROTOCOL']);
});

test('an endless chunk-size line mid-stream: the client stream is cut, not ended as if whole', { timeout: 60_000 }, async (t) => {
  let floodDone: Promise<number> | undefined;
  const peer = await hostilePeer(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
    socket.write('6\r\ndata: \r\n');
    socket.write('7\r\nfirst\n\n\r\n');
    // A size line that never ends: hex digits and then an extension that goes on forever.
    floodDone = flood(socket, '1;' + 'e'.repeat(4095), 64 * 1024 * 1024);
  });
  const { url } = await routerFor(t, [{ id: 'evil', baseUrl: peer }]);
  const outcome = await get(`${url}/v1/chat/completions`);
  const written = await floodDone!;
  const held = outcome.status === 200 && outcome.error !== undefined && outcome.body === 'data: first\n\n' && written < 8 * 1024 * 1024;
  recordAttack('peer sends an endless chunk-size line mid-stream: client stream cut, bounded read', held);
  assert.equal(outcome.status, 200);
  assert.equal(outcome.body, 'data: first\n\n', `the chunks before the attack arrived intact: ${JSON.stringify(outcome)}`);
  assert.ok(outcome.error !== undefined, 'the client saw its stream cut, not a clean end');
  assert.ok(written < 8 * 1024 * 1024, `the router read ${written} bytes of one chunk-size line`);
});

test(
  'a response framed two ways (content-length and chunked), a control byte in a header, a 20-digit chunk size: 502 or a cut, and the router keeps serving',
  { timeout: 60_000 },
  async (t) => {
    const attacks: Array<{ name: string; response: string; streamed: boolean }> = [
      {
        name: 'content-length and transfer-encoding at once (smuggling)',
        response: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
        streamed: false,
      },
      {
        name: 'conflicting content-length headers',
        response: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 50\r\n\r\nhello',
        streamed: false,
      },
      {
        name: 'a header value with a control byte',
        response: 'HTTP/1.1 200 OK\r\nx-evil: a\x01b\r\ncontent-length: 2\r\n\r\nhi',
        streamed: false,
      },
      { name: 'a status line that is not HTTP', response: 'SSH-2.0-OpenSSH\r\n\r\n', streamed: false },
      {
        name: 'a 20-digit chunk size',
        response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\nfffffffffffffffffff0\r\n',
        streamed: true,
      },
    ];
    let current = 0;
    const peer = await hostilePeer(t, (socket) => {
      socket.write(attacks[current]!.response);
    });
    const good = await goodPeer(t);
    const peers: RouterPeer[] = [];
    const { url } = await routerFor(t, peers);
    for (let i = 0; i < attacks.length; i++) {
      current = i;
      const attack = attacks[i]!;
      peers.length = 0;
      peers.push({ id: 'evil', baseUrl: peer });
      const outcome = await get(`${url}/x`);
      const held = attack.streamed
        ? outcome.status === 200 && outcome.error !== undefined && outcome.body === 'ok'
        : outcome.status === 502 && !outcome.body.includes('hello') && !outcome.body.includes('hi');
      recordAttack(`peer sends ${attack.name}: ${attack.streamed ? 'stream cut' : '502'}`, held);
      assert.ok(held, `${attack.name}: ${JSON.stringify(outcome)}`);
      peers.length = 0;
      peers.push({ id: 'good', baseUrl: good });
      assert.deepEqual(await get(`${url}/x`), { status: 200, body: 'fine' }, `the router still serves after: ${attack.name}`);
    }
  },
);

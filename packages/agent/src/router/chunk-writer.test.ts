import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { createRouter } from './router.ts';

const PATTERN = Buffer.from(Array.from({ length: 251 + 128 * 1024 }, (_, i) => i % 251));

/** Chunk k of `size` bytes: byte i is (k + i) % 251, so a lost, repeated or reordered byte shows. */
function chunkOf(k: number, size: number): Buffer {
  return PATTERN.subarray(k % 251, (k % 251) + size);
}

/** An upstream that streams `sizes.length` chunks (byte i of chunk k is (k + i) % 251), then ends. */
async function streamingUpstream(t: TestContext, sizes: readonly number[]): Promise<{ url: string; written: () => number }> {
  let written = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let k = 0;
    const next = (): void => {
      while (k < sizes.length) {
        const chunk = chunkOf(k, sizes[k]!);
        k++;
        written = k;
        if (!res.write(chunk)) {
          res.once('drain', next);
          return;
        }
      }
      res.end();
    };
    next();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, written: () => written };
}

function expected(sizes: readonly number[]): Buffer {
  return Buffer.concat(sizes.map((n, k) => chunkOf(k, n)));
}

async function routerFor(t: TestContext, upstreamUrl: string): Promise<string> {
  const router = createRouter({ port: 0, peers: () => [{ id: 'up', baseUrl: upstreamUrl }] });
  const { url } = await router.start();
  t.after(() => router.stop({ graceMs: 0 }));
  return url;
}

/** Reads one chunked response body from `data` at `from`: the body and where the next response starts. */
function parseChunked(data: Buffer, from: number): { status: number; body: Buffer; end: number } {
  const headEnd = data.indexOf('\r\n\r\n', from);
  assert.ok(headEnd > 0, 'a response head');
  const head = data.subarray(from, headEnd).toString('latin1');
  assert.match(head, /transfer-encoding: chunked/i);
  const status = Number(head.split(' ')[1]);
  const parts: Buffer[] = [];
  let at = headEnd + 4;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    assert.ok(Number.isInteger(size), `a chunk size line at ${at}`);
    at = lineEnd + 2;
    if (size === 0) {
      assert.equal(data.subarray(at, at + 2).toString('latin1'), '\r\n', 'the body ends with the last chunk');
      return { status, body: Buffer.concat(parts), end: at + 2 };
    }
    parts.push(data.subarray(at, at + size));
    at += size;
    assert.equal(data.subarray(at, at + 2).toString('latin1'), '\r\n', 'each chunk ends with CRLF');
    at += 2;
  }
}

// Small chunks (token events), one at the copy limit, one past it (written in three pieces), one of 1 byte.
const SIZES = [180, 1, 200, 16 * 1024, 16 * 1024 + 1, 70_000, 3, 220];

test('streamed chunks reach the client byte for byte, in order, and two pipelined streams on one connection stay apart', async (t) => {
  const up = await streamingUpstream(t, SIZES);
  const url = new URL(await routerFor(t, up.url));
  const socket = net.connect({ host: url.hostname, port: Number(url.port) });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const request = `GET /v1/chat/completions HTTP/1.1\r\nhost: router\r\n\r\n`;
  socket.write(request + request);
  const want = expected(SIZES);
  const received: Buffer[] = [];
  let total = 0;
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk);
    total += chunk.length;
  });
  socket.once('close', () => (closed = true));
  // Bounded poll until both responses parse whole.
  const bound = Date.now() + 10_000;
  for (;;) {
    const data = Buffer.concat(received, total);
    try {
      const first = parseChunked(data, 0);
      const second = parseChunked(data, first.end);
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.ok(first.body.equals(want), 'first body intact');
      assert.ok(second.body.equals(want), 'second body intact');
      assert.equal(second.end, data.length, 'nothing after the second response');
      break;
    } catch (error) {
      if (closed || Date.now() > bound) throw error;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
});

test('a client that stops reading pauses the upstream; once it reads, every byte arrives', async (t) => {
  // 32 MiB: more than the kernel buffers of both loopback connections hold, so an upstream
  // that gets to its end while the client reads nothing was read into the router's memory.
  const sizes = Array.from({ length: 512 }, () => 64 * 1024);
  const up = await streamingUpstream(t, sizes);
  const url = await routerFor(t, up.url);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${url}/v1/chat/completions`, { agent: false }, resolve).on('error', reject);
  });
  t.after(() => res.destroy());
  res.pause();
  // Bounded poll until the upstream's progress stops (10 polls without a new chunk) or it ends.
  let last = -1;
  let still = 0;
  const bound = Date.now() + 15_000;
  while (still < 10 && up.written() < sizes.length && Date.now() < bound) {
    await new Promise((r) => setTimeout(r, 20));
    still = up.written() === last ? still + 1 : 0;
    last = up.written();
  }
  assert.ok(
    up.written() < sizes.length,
    'the upstream sent all 32 MiB to a client that read nothing: the router buffered it instead of pushing back',
  );
  const want = expected(sizes);
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  res.resume();
  await once(res, 'end');
  assert.ok(Buffer.concat(parts).equals(want), 'the whole body arrived intact after the pause');
});

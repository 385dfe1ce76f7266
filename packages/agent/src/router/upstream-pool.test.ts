import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { UpstreamPool, type UpstreamControl, type UpstreamHandler, type UpstreamPoolOptions } from './upstream-pool.ts';

interface Result {
  status: number;
  body: string;
  error?: string;
  code?: string;
  ms: number;
}

/** Sends one request through `pool`; resolves when it completes or fails (never rejects). */
function send(pool: UpstreamPool, path = '/'): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    let status = 0;
    const parts: Buffer[] = [];
    const handler: UpstreamHandler = {
      raw: false,
      wantsPause: false,
      onStart(_control: UpstreamControl) {},
      onHead(s: number) {
        status = s;
      },
      onData(data: Buffer) {
        parts.push(data);
      },
      onRaw() {},
      onComplete() {
        resolve({ status, body: Buffer.concat(parts).toString(), ms: Date.now() - started });
      },
      onError(error: Error) {
        resolve({
          status,
          body: Buffer.concat(parts).toString(),
          error: error.message,
          code: (error as { code?: string }).code,
          ms: Date.now() - started,
        });
      },
    };
    pool.dispatch({ method: 'GET', path, headers: ['host', 'peer'], body: null }, handler);
  });
}

async function serve(t: TestContext, handler: http.RequestListener): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = http.createServer(handler);
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

function poolFor(t: TestContext, port: number, options: UpstreamPoolOptions = {}): UpstreamPool {
  const pool = new UpstreamPool('127.0.0.1', port, options);
  t.after(() => pool.destroy());
  return pool;
}

test('keep-alive: requests one after another share one connection; bodies by content-length and chunked arrive whole', async (t) => {
  const up = await serve(t, (req, res) => {
    if (req.url === '/chunked') {
      res.write('a');
      res.write('bc');
      res.end('d');
    } else {
      res.end('fixed');
    }
  });
  const pool = poolFor(t, up.port);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await send(pool, '/chunked').then((r) => [r.status, r.body]), [200, 'abcd']);
    assert.deepEqual(await send(pool, '/fixed').then((r) => [r.status, r.body]), [200, 'fixed']);
  }
  assert.equal(up.connections(), 1, 'six requests, one connection');
  assert.equal(pool.size, 1);
});

test(
  'a peer that goes quiet mid-body fails with UND_ERR_BODY_TIMEOUT, not before the timeout; one that never answers with UND_ERR_HEADERS_TIMEOUT',
  { timeout: 20_000 },
  async (t) => {
    const up = await serve(t, (req, res) => {
      if (req.url === '/quiet') {
        res.write('data: 1\n\n');
        return; // and nothing more
      }
      // '/silent': no head at all
    });
    const pool = poolFor(t, up.port, { bodyTimeoutMs: 400, headersTimeoutMs: 300 });
    const quiet = await send(pool, '/quiet');
    assert.equal(quiet.code, 'UND_ERR_BODY_TIMEOUT', JSON.stringify(quiet));
    assert.equal(quiet.body, 'data: 1\n\n');
    assert.ok(quiet.ms >= 390, `cut after ${quiet.ms} ms: not before the 400 ms timeout`);
    const silent = await send(pool, '/silent');
    assert.equal(silent.code, 'UND_ERR_HEADERS_TIMEOUT', JSON.stringify(silent));
    assert.ok(silent.ms >= 290, `cut after ${silent.ms} ms`);
  },
);

test(
  'a body that keeps flowing slower than the idle timeout is not cut; more requests than connections wait their turn',
  { timeout: 20_000 },
  async (t) => {
    const up = await serve(t, (req, res) => {
      let n = 0;
      const timer = setInterval(() => {
        res.write(`data: ${n}\n\n`);
        if (++n === 6) {
          clearInterval(timer);
          res.end();
        }
      }, 60);
      res.on('close', () => clearInterval(timer));
    });
    // Each gap (60 ms) is under the 200 ms timeout, the whole body (~360 ms) is over it.
    const pool = poolFor(t, up.port, { bodyTimeoutMs: 200, connections: 2 });
    const results = await Promise.all([send(pool), send(pool), send(pool)]);
    for (const r of results) assert.deepEqual([r.status, r.error, r.body.split('\n\n').length - 1], [200, undefined, 6]);
    assert.equal(up.connections(), 2, 'the third request waited for a free connection');
  },
);

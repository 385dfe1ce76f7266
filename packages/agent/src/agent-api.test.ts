import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { AGENT_API_KEEP_ALIVE_HINT_S, AGENT_API_KEEP_ALIVE_MS, AgentApi } from './agent-api.ts';
import { createLogger } from './logger.ts';

const SECRET = 'test-secret-0123456789abcdef';

async function startApi(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const api = new AgentApi({
    secret: SECRET,
    port: 0,
    logger: createLogger({}, { write() {} }),
    routes: {
      'GET /status': () => ({ status: 200, body: { ok: true } }),
      'POST /v1/echo': ({ body }) => ({ status: 200, body: { got: body } }),
    },
    maxBodyBytes: 1024,
  });
  const { url } = await api.start();
  t.after(() => api.stop());
  return url;
}

const auth = { authorization: `Bearer ${SECRET}` };

test('requests without the cluster secret, or with a wrong one, get 401', async (t) => {
  const url = await startApi(t);
  assert.equal((await fetch(`${url}/status`)).status, 401);
  assert.equal((await fetch(`${url}/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await fetch(`${url}/status`, { headers: { authorization: SECRET } })).status, 401, 'the scheme is required');
  const ok = await fetch(`${url}/status`, { headers: auth });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { ok: true });
});

test('garbage input gets 4xx answers and the API keeps serving', async (t) => {
  const url = await startApi(t);
  const badJson = await fetch(`${url}/v1/echo`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: '{"unterminated',
  });
  assert.equal(badJson.status, 400);
  const tooBig = await fetch(`${url}/v1/echo`, { method: 'POST', headers: auth, body: 'x'.repeat(4096) });
  assert.equal(tooBig.status, 413);
  assert.equal((await fetch(`${url}/nope`, { headers: auth })).status, 404);
  assert.equal((await fetch(`${url}/status`, { method: 'DELETE', headers: auth })).status, 405);
  // Raw protocol garbage on the socket.
  const { port } = new URL(url);
  await new Promise<void>((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write('\x00\x01\x02 NOT HTTP\r\n\r\n'));
    socket.on('data', () => {});
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  const after = await fetch(`${url}/v1/echo`, { method: 'POST', headers: auth, body: JSON.stringify({ a: 1 }) });
  assert.equal(after.status, 200);
  assert.deepEqual(await after.json(), { got: { a: 1 } });
});

test('a kept-alive connection reused past the advertised idle timeout is served, never reset', async (t) => {
  const url = await startApi(t);
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  t.after(() => socket.destroy());
  let received = '';
  let closedAt: number | undefined;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('close', () => {
    closedAt = Date.now();
  });
  socket.on('error', () => {});
  const request = `GET /status HTTP/1.1\r\nhost: agent\r\nauthorization: Bearer ${SECRET}\r\n\r\n`;
  /** Sends one request on the socket and waits for its whole answer (bounded). */
  const exchange = async (): Promise<string> => {
    received = '';
    socket.write(request);
    const until = Date.now() + 5000;
    while (!/\r\n\r\n\{"ok":true\}$/.test(received) && closedAt === undefined && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10));
    return received;
  };
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const first = await exchange();
  assert.match(first, /^HTTP\/1\.1 200 /);
  // Clients are told less than the server keeps: pools that read the hint let go first.
  assert.match(first, new RegExp(`\\r\\nkeep-alive: timeout=${AGENT_API_KEEP_ALIVE_HINT_S}\\r\\n`, 'i'));
  assert.equal(first.match(/keep-alive: timeout=/gi)?.length, 1, 'one hint, not also the one Node derives from keepAliveTimeout');
  assert.ok(
    AGENT_API_KEEP_ALIVE_MS >= AGENT_API_KEEP_ALIVE_HINT_S * 1000 + 20_000,
    'a wide gap between the hint and the real idle timeout',
  );
  // Idle past the hint, where a server that means its hint (the 5 s this API used to keep) has
  // closed: a client whose timer fired late would reuse the socket just about now.
  const idleMs = AGENT_API_KEEP_ALIVE_HINT_S * 1000 + 1500;
  await new Promise((r) => setTimeout(r, idleMs));
  assert.equal(closedAt, undefined, `the server kept the idle connection past ${idleMs} ms`);
  const second = await exchange();
  assert.match(second, /^HTTP\/1\.1 200 [^]*\{"ok":true\}$/, `the reused socket was served: ${JSON.stringify(second)}`);
});

test("Node's keep-alive agent (the CLI's agent reads) lets an idle socket go well before the server does", async (t) => {
  const url = await startApi(t);
  const agent = new HttpAgent({ keepAlive: true, timeout: 60_000 });
  t.after(() => agent.destroy());
  const idleTimeout = await new Promise<number>((resolve, reject) => {
    const req = httpGet(`${url}/status`, { agent, headers: auth }, (res) => {
      res.resume();
      // Once the answer is read the socket goes back to the pool with the idle timeout the hint set.
      res.on('end', () => setImmediate(() => resolve(req.socket?.timeout ?? -1)));
    });
    req.on('error', reject);
  });
  assert.ok(idleTimeout > 0 && idleTimeout <= AGENT_API_KEEP_ALIVE_HINT_S * 1000, `pooled idle timeout ${idleTimeout} ms`);
  assert.ok(AGENT_API_KEEP_ALIVE_MS - idleTimeout >= 20_000);
});

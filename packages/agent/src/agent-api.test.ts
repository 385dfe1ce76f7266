import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { AgentApi } from './agent-api.ts';
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
  const badJson = await fetch(`${url}/v1/echo`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"unterminated' });
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

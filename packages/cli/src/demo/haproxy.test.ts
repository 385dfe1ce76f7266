/**
 * The HAProxy controller against a real haproxy and two small HTTP servers standing in
 * for routers: a server joins the rotation only after a passed health check, a 503 on
 * the health path takes it out, a server removed from the targets keeps its open stream
 * to the end and is deleted once idle, and stop() leaves no process and no file behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSynktiError } from '@synkti/core';
import { checkServerName, checkTargetAddress, renderHaproxyConfig } from './haproxy-config.ts';
import { findHaproxy, parseStatCsv, startHaproxy, type Haproxy } from './haproxy.ts';

const haproxyMissing =
  findHaproxy() === undefined && process.env.SYNKTI_REQUIRE_SERVICES !== '1'
    ? 'haproxy is not installed (sudo apt-get install -y haproxy); set SYNKTI_REQUIRE_SERVICES=1 to make this a failure'
    : false;

interface FakeRouter {
  name: string;
  port: number;
  healthy: boolean;
  server: Server;
  release: () => void;
}

/** Answers the health path with 200 or 503, `/who` with its name, `/stream` with a body held open until release(). */
async function fakeRouter(name: string): Promise<FakeRouter> {
  const router: FakeRouter = { name, port: 0, healthy: true, server: createServer(), release: () => undefined };
  const held: (() => void)[] = [];
  router.release = () => {
    for (const end of held.splice(0)) end();
  };
  router.server.on('request', (req, res) => {
    if (req.url === '/_synkti/router/health') {
      res.writeHead(router.healthy ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(router.healthy ? 'ok\n' : 'draining\n');
    } else if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      held.push(() => res.end('data: [DONE]\n\n'));
    } else {
      res.end(name);
    }
  });
  await new Promise<void>((resolve) => router.server.listen(0, '127.0.0.1', resolve));
  router.port = (router.server.address() as AddressInfo).port;
  return router;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('config and targets: loopback only, no command injection through names or addresses', () => {
  assert.throws(() => renderHaproxyConfig({ host: '0.0.0.0', port: 8080, socketPath: '/tmp/x.sock' }), /loopback/);
  const config = renderHaproxyConfig({ port: 18080, socketPath: '/tmp/x/admin.sock' });
  assert.match(config, /bind 127\.0\.0\.1:18080\n/);
  assert.match(config, /option httpchk GET \/_synkti\/router\/health\n/);
  assert.match(config, /retry-on conn-failure\n/);
  assert.throws(
    () => checkServerName('i-1; del server routers/i-2'),
    (e: unknown) => isSynktiError(e, 'E_HAPROXY_TARGET'),
  );
  assert.throws(() => checkServerName(''), /not allowed/);
  assert.equal(checkServerName('i-0abc123def4567890'), 'i-0abc123def4567890');
  assert.throws(() => checkTargetAddress('8.8.8.8', 80, 'i-1'), /not a loopback or private/);
  assert.throws(() => checkTargetAddress('localhost', 80, 'i-1'), /not a loopback or private/);
  assert.throws(() => checkTargetAddress('127.0.0.1', 0, 'i-1'), /port/);
  checkTargetAddress('127.0.0.1', 8080, 'i-1');
  checkTargetAddress('10.0.3.7', 8080, 'i-1');
  assert.deepEqual(parseStatCsv('# pxname,svname,check_desc\nrouters,a,"Layer7, ""wrong"" status"\n'), [
    { pxname: 'routers', svname: 'a', check_desc: 'Layer7, "wrong" status' },
  ]);
});

test('a missing haproxy is E_TOOL_MISSING with the apt-get hint', async () => {
  await assert.rejects(startHaproxy({ command: 'haproxy-not-installed-here' }), (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_TOOL_MISSING'));
    assert.match(error.hint ?? '', /apt-get install -y haproxy/);
    return true;
  });
});

test("haproxy follows the targets and the routers' health", { skip: haproxyMissing, timeout: 60_000 }, async (t) => {
  const a = await fakeRouter('a');
  const b = await fakeRouter('b');
  t.after(() => {
    a.release();
    b.release();
    a.server.closeAllConnections();
    b.server.closeAllConnections();
    a.server.close();
    b.server.close();
  });
  b.healthy = false;
  const lines: string[] = [];
  const lb: Haproxy = await startHaproxy({ onLog: (line) => lines.push(line) });
  t.after(() => lb.stop());
  assert.match(lb.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  // Added out of the rotation; only the one whose check passes is admitted.
  const targets = [
    { name: 'i-a', host: '127.0.0.1', port: a.port },
    { name: 'i-b', host: '127.0.0.1', port: b.port },
  ];
  assert.deepEqual((await lb.sync(targets)).added.sort(), ['i-a', 'i-b']);
  await until('i-a admitted', async () => ((await lb.sync(targets)).admitted.includes('i-a') ? true : undefined));
  for (let i = 0; i < 6; i++) assert.deepEqual(await get(`${lb.url}/who`), { status: 200, body: 'a' });
  const bState = (await lb.servers()).find((s) => s.name === 'i-b');
  assert.equal(bState?.sessions, 0, 'the unhealthy router got no request');

  // b turns healthy: admitted, and it gets traffic. a answers 503 on health: no new request reaches it.
  b.healthy = true;
  await until('i-b admitted', async () => ((await lb.sync(targets)).admitted.includes('i-b') ? true : undefined));
  // Admitted is our side's decision; haproxy takes the server UP on its next check.
  await until('i-b up', async () => ((await lb.servers()).find((s) => s.name === 'i-b')?.status.startsWith('UP') ? true : undefined));
  a.healthy = false;
  await until('i-a marked down', async () =>
    (await lb.servers()).find((s) => s.name === 'i-a')?.status.startsWith('DOWN') ? true : undefined,
  );
  for (let i = 0; i < 6; i++) assert.deepEqual(await get(`${lb.url}/who`), { status: 200, body: 'b' });
  assert.ok(
    lines.some((l) => /Server routers\/i-a is DOWN/.test(l)),
    `haproxy logged the state change: ${lines.join('\n')}`,
  );

  // A stream open on b when b leaves the targets runs to its end; b is deleted once idle.
  const streamed = new Promise<string>((resolve, reject) => {
    request(`${lb.url}/stream`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  await until('the stream open on i-b', async () => ((await lb.servers()).find((s) => s.name === 'i-b')?.current === 1 ? true : undefined));
  a.healthy = true;
  const onlyA = [targets[0]!];
  assert.deepEqual((await lb.sync(onlyA)).removing, ['i-b'], 'not deleted while its stream is open');
  b.release();
  assert.equal(await streamed, 'data: first\n\ndata: [DONE]\n\n');
  await until('i-b deleted', async () => ((await lb.sync(onlyA)).removed.includes('i-b') ? true : undefined));
  assert.deepEqual(
    (await lb.servers()).map((s) => s.name),
    ['i-a'],
  );
  assert.ok((await lb.totals()).responses2xx >= 13);

  await lb.stop();
  assert.throws(() => process.kill(lb.pid, 0), /ESRCH/, 'haproxy is gone after stop()');
  await assert.rejects(lb.command('show info'), 'its runtime socket is gone');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InstanceRecord } from '@synkti/cloud';
import { DashboardHandler } from './dashboard-handler.ts';
import { FleetAggregator } from './fleet-aggregator.ts';
import type { FleetSource } from './fleet-source.ts';

const SECRET = 'b'.repeat(64);

function record(id: string): InstanceRecord {
  return {
    id,
    state: 'running',
    privateIp: '127.0.0.1',
    instanceType: 'local.small',
    zone: 'local-a',
    lifecycle: 'spot',
    launchedAt: 1,
    tags: { SynktiCluster: 'demo', SynktiRole: 'worker' },
  };
}

/** The handler mounted under /dashboard beside another route, as an agent's API mounts it. */
async function mounted(
  t: { after: (fn: () => unknown) => void },
  source: FleetSource,
): Promise<{ url: string; handler: DashboardHandler }> {
  const aggregator = new FleetAggregator({ source, intervalMs: 50 });
  await aggregator.start();
  const handler = new DashboardHandler({ aggregator, secret: SECRET, basePath: '/dashboard', secretForm: true });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (handler.owns(url.pathname)) void handler.handle(req, res, url);
    else res.writeHead(200).end('other route');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    aggregator.stop();
    handler.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handler };
}

const fleet: FleetSource = {
  cluster: 'demo',
  provider: 'local',
  instances: async () => [record('i-1'), record('i-2')],
  status: async (r) => ({ id: r.id, role: 'worker', zone: 'local-a', state: 'ready', uptimeMs: 1000, load: 0, members: [] }),
  metrics: async () => undefined,
  pipelines: async () => ({
    backend: 'sqlite',
    jobs: { running: 1, done: 2, failed: 3, cancelled: 4 },
    tasks: { pending: 0, ready: 5, running: 1 },
    windowMs: 86_400_000,
  }),
};

test('mounted under /dashboard: sign-in form (secret in the body), 401 otherwise, relative page URLs', async (t) => {
  const { url } = await mounted(t, fleet);
  assert.equal(await (await fetch(`${url}/status`)).text(), 'other route', "paths outside the mount are not the dashboard's");
  const bare = await fetch(`${url}/dashboard`, { redirect: 'manual' });
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.get('location'), '/dashboard/');

  const anonymous = await fetch(`${url}/dashboard/`);
  assert.equal(anonymous.status, 401);
  const form = await anonymous.text();
  assert.match(form, /<form method="post" action="\/dashboard\/login">/);
  assert.ok(!form.includes(SECRET));
  assert.equal((await fetch(`${url}/dashboard/events`)).status, 401);
  assert.equal((await fetch(`${url}/dashboard/api/snapshot`, { headers: { authorization: 'Bearer nope' } })).status, 401);

  const wrong = await fetch(`${url}/dashboard/login`, {
    method: 'POST',
    body: new URLSearchParams({ secret: 'guess' }),
    redirect: 'manual',
  });
  assert.equal(wrong.status, 401);
  assert.match(await wrong.text(), /wrong cluster secret/);
  assert.equal(wrong.headers.get('set-cookie'), null);

  const signIn = await fetch(`${url}/dashboard/login`, {
    method: 'POST',
    body: new URLSearchParams({ secret: SECRET }),
    redirect: 'manual',
  });
  assert.equal(signIn.status, 303);
  assert.equal(signIn.headers.get('location'), '/dashboard/');
  const setCookie = signIn.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^synkti_dashboard_[0-9a-f]{8}=[\w-]+; HttpOnly; SameSite=Strict; Path=\/dashboard\/$/);
  const cookie = setCookie.split(';')[0]!;
  const page = await fetch(`${url}/dashboard/`, { headers: { cookie } });
  assert.equal(page.status, 200);
  const html = await page.text();
  const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(script, 'relative script URL');
  assert.equal((await fetch(`${url}/dashboard/${script}`, { headers: { cookie } })).status, 200);
  const snapshot = (await (await fetch(`${url}/dashboard/api/snapshot`, { headers: { cookie } })).json()) as {
    nodes: { id: string }[];
    pipelines: { jobs: Record<string, number> };
  };
  assert.deepEqual(
    snapshot.nodes.map((n) => n.id),
    ['i-1', 'i-2'],
  );
  assert.deepEqual(snapshot.pipelines.jobs, { running: 1, done: 2, failed: 3, cancelled: 4 });
});

test('a login link minted with the Bearer secret works once', async (t) => {
  const { url } = await mounted(t, fleet);
  assert.equal((await fetch(`${url}/dashboard/login-link`, { method: 'POST' })).status, 401);
  const minted = await fetch(`${url}/dashboard/login-link`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } });
  assert.equal(minted.status, 200);
  const { loginPath } = (await minted.json()) as { loginPath: string };
  assert.match(loginPath, /^\/dashboard\/login\?token=[\w-]{32}$/);
  assert.ok(!loginPath.includes(SECRET));
  const first = await fetch(`${url}${loginPath}`, { redirect: 'manual' });
  assert.equal(first.status, 303);
  assert.match(first.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
  assert.equal((await fetch(`${url}${loginPath}`, { redirect: 'manual' })).status, 401, 'used once');
});

test('a failing pipeline count is a warning, not a broken snapshot', async () => {
  const aggregator = new FleetAggregator({
    source: {
      ...fleet,
      pipelines: async () => {
        throw new Error('no such table: synkti_pl_jobs');
      },
    },
  });
  await aggregator.refresh();
  const s = aggregator.snapshot()!;
  assert.equal(s.nodes.length, 2);
  assert.equal(s.pipelines, undefined);
  assert.deepEqual(s.warnings, ['cannot count pipeline jobs: no such table: synkti_pl_jobs']);
});

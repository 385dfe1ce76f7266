import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_ROLE, freeLoopbackPort } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, Page } from '@synkti/cloud';
import type { DashboardSnapshot } from '@synkti/dashboard';
import { Agent } from './agent.ts';
import { AgentDashboardMount } from './dashboard-mount.ts';
import { createLogger } from './logger.ts';
import type { Member } from './membership-view.ts';
import { metadataOfRecord } from './testing/record-metadata.ts';

/**
 * fetch on a new connection each time. Three agents and the client share this process; at
 * load ~20 its event loop stalled for seconds between two requests and a reused keep-alive
 * socket the agent had already closed answered with a reset (a browser retries that itself;
 * undici's fetch does not).
 */
function fetchFresh(url: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...init.headers, connection: 'close' } });
}

const SECRET = 'agent-dashboard-secret-0123456789';
const CLUSTER = 'dash';

/** The cloud's tag index, in memory: what agents list to find their first peers. */
class MemoryCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  async launch(): Promise<InstanceRecord> {
    throw new Error('not in this test');
  }
  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const states = filter.states ?? ['pending', 'running', 'shutting-down'];
    return {
      items: this.records.filter((r) => states.includes(r.state) && Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v)),
    };
  }
  async terminate(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(ids: string[], keys: string[]): Promise<void> {
    for (const r of this.records) if (ids.includes(r.id)) for (const k of keys) delete r.tags[k];
  }
}

/** Three real agents in this process (real HTTP APIs on 127.0.0.1, real gossip). */
async function startFleet(
  t: { after: (fn: () => unknown) => void },
  dashboard = {},
): Promise<{ agents: Agent[]; urls: string[]; cloud: MemoryCloud }> {
  const cloud = new MemoryCloud();
  const quiet = createLogger({}, { write() {} });
  const agents: Agent[] = [];
  const urls: string[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freeLoopbackPort();
    const record: InstanceRecord = {
      id: `i-dash${i}`,
      state: 'running',
      privateIp: '127.0.0.1',
      instanceType: 'local.small',
      zone: `local-${'abc'[i]}`,
      lifecycle: 'spot',
      launchedAt: Date.now() + i,
      tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: 'worker', [TAG_PORT_AGENT]: String(port) },
    };
    cloud.records.push(record);
    const agent = new Agent({
      cluster: CLUSTER,
      metadata: metadataOfRecord(record),
      instances: cloud,
      secret: SECRET,
      // Three agents share this one process, so under heavy load (two busy loops, load ~30) the
      // first /dashboard/ request (tsx compiling the dashboard package) stalls all of them for
      // seconds. So: a silent member stays 30 s (not 1 s; else peers are "crashed", then rejoin,
      // and the graceful leave checked below is not what the timeline shows; a graceful stop
      // leaves at once either way), and a peer's /status may take 10 s (not the 800 ms default,
      // else peers show "unreachable" until load eases).
      defaultPorts: { agent: port, router: 1, workload: 2 },
      gossipIntervalMs: 100,
      failureTimeoutMs: 30_000,
      listIntervalMs: 500,
      dashboard: {
        provider: 'local',
        pools: { worker: { instanceType: 'local.small', lifecycle: 'spot' } },
        intervalMs: 100,
        peerTimeoutMs: 10_000,
        ...dashboard,
      },
      logger: quiet,
    });
    agents.push(agent);
    urls.push(`http://127.0.0.1:${port}`);
  }
  t.after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  await Promise.all(agents.map((a) => a.boot()));
  await Promise.all(agents.map((a) => a.markReady()));
  return { agents, urls, cloud };
}

/**
 * Reads an SSE stream until a snapshot satisfies `done`, or `timeoutMs` passes (only a "did it
 * hang" bound: the wait ends on the event; callers assert on the last snapshot either way).
 */
async function streamUntil(
  url: string,
  headers: Record<string, string>,
  done: (s: DashboardSnapshot) => boolean,
  timeoutMs = 60_000,
): Promise<{ last: DashboardSnapshot | undefined; contentType: string | null }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let last: DashboardSnapshot | undefined;
  let contentType: string | null = null;
  try {
    const response = await fetchFresh(url, { headers, signal: controller.signal });
    assert.equal(response.status, 200);
    contentType = response.headers.get('content-type');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (!frame.includes('event: snapshot') || !data) continue;
        last = JSON.parse(data.slice(6)) as DashboardSnapshot;
        if (done(last)) return { last, contentType };
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { last, contentType };
}

// 30 s timed out at load ~30 (two busy loops on 2 cores): three agents boot and gossip in this
// one process. Every wait below ends on an event (a response, a snapshot); this is a hang bound.
test("any agent serves the whole fleet's dashboard behind the cluster secret", { timeout: 300_000 }, async (t) => {
  // The mount loads the dashboard on the first /dashboard/ request; under tsx that compiles
  // it synchronously, stalling this process (its three agents and the client) for tens of
  // seconds at load 10-20, long enough for a loopback connect to time out. A release runs
  // compiled JavaScript, so load it first, as a release's import would be fast.
  await import('@synkti/dashboard');
  const bootAt = performance.now();
  const { agents, urls, cloud } = await startFleet(t);
  t.diagnostic(`fleet booted in ${(performance.now() - bootAt).toFixed(0)} ms`);
  const base = urls[2]!;

  // 401 without the secret (a sign-in form); the agent's own API keeps its Bearer check.
  const anonymous = await fetchFresh(`${base}/dashboard/`);
  assert.equal(anonymous.status, 401);
  assert.match(await anonymous.text(), /<form method="post" action="\/dashboard\/login">/);
  assert.equal((await fetchFresh(`${base}/dashboard/events`)).status, 401);
  assert.equal((await fetchFresh(`${base}/dashboard/api/snapshot`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await fetchFresh(`${base}/status`)).status, 401);
  assert.equal(
    (await fetchFresh(`${base}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ secret: 'guess' }), redirect: 'manual' }))
      .status,
    401,
  );

  // Sign-in: the secret in the form's body (never in a URL) sets an HttpOnly session cookie.
  const signIn = await fetchFresh(`${base}/dashboard/login`, {
    method: 'POST',
    body: new URLSearchParams({ secret: SECRET }),
    redirect: 'manual',
  });
  assert.equal(signIn.status, 303);
  assert.equal(signIn.headers.get('location'), '/dashboard/');
  const setCookie = signIn.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /; HttpOnly; SameSite=Strict; Path=\/dashboard\/$/);
  assert.ok(!setCookie.includes(SECRET));
  const cookie = setCookie.split(';')[0]!;
  const page = await fetchFresh(`${base}/dashboard/`, { headers: { cookie } });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<title>Synkti dashboard<\/title>/);
  const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(script, 'relative asset URLs');
  assert.equal(
    (await fetchFresh(`${base}/dashboard/${script}`, { headers: { cookie } })).status,
    200,
    'the bundle is served by the agent (no CDN)',
  );

  // A one-time link minted with the Bearer secret (what a script hands a browser).
  const minted = await fetchFresh(`${base}/dashboard/login-link`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } });
  const { loginPath } = (await minted.json()) as { loginPath: string };
  assert.ok(!loginPath.includes(SECRET));
  assert.equal((await fetchFresh(`${base}${loginPath}`, { redirect: 'manual' })).status, 303);
  assert.equal((await fetchFresh(`${base}${loginPath}`, { redirect: 'manual' })).status, 401, 'the link works once');

  t.diagnostic(`sign-in steps done after ${(performance.now() - bootAt).toFixed(0)} ms`);
  // The stream lists the whole fleet, as this node learns it from its peers.
  const ids = cloud.records.map((r) => r.id);
  const fleetAt = performance.now();
  const { last, contentType } = await streamUntil(
    `${base}/dashboard/events`,
    { cookie },
    (s) => s.nodes.length === 3 && s.nodes.every((n) => n.state === 'ready' && n.members === 3),
  );
  t.diagnostic(
    `fleet of 3 seen after ${(performance.now() - fleetAt).toFixed(0)} ms: ${JSON.stringify(last?.nodes.map((n) => [n.id, n.state, n.members]))}`,
  );
  assert.match(String(contentType), /text\/event-stream/);
  assert.ok(last, 'a snapshot arrived');
  assert.equal(last.cluster, CLUSTER);
  assert.equal(last.provider, 'local');
  assert.deepEqual(
    last.nodes.map((n) => n.id),
    ids,
    'oldest first',
  );
  assert.deepEqual(
    last.nodes.map((n) => [n.state, n.role, n.zone, n.members, n.lifecycle, n.instanceType]),
    [
      ['ready', 'worker', 'local-a', 3, 'spot', 'local.small'],
      ['ready', 'worker', 'local-b', 3, 'spot', 'local.small'],
      ['ready', 'worker', 'local-c', 3, 'spot', 'local.small'],
    ],
  );
  assert.ok(last.cost.usdPerHour > 0 && last.cost.usdPerHour < last.cost.onDemandUsdPerHour, 'priced from the pools');
  assert.equal(last.timeline[0]?.kind, 'watch');
  assert.deepEqual(last.warnings, []);

  // A node that leaves shows on the timeline and drops out of the node list.
  const stopAt = performance.now();
  await agents[0]!.stop();
  t.diagnostic(`a node stopped in ${(performance.now() - stopAt).toFixed(0)} ms`);
  const leftAt = performance.now();
  const after = await streamUntil(`${base}/dashboard/events`, { cookie }, (s) => s.nodes.length === 2);
  t.diagnostic(
    `fleet of 2 seen after ${(performance.now() - leftAt).toFixed(0)} ms: ${JSON.stringify(after.last?.nodes.map((n) => [n.id, n.state, n.members]))}`,
  );
  assert.deepEqual(
    after.last?.nodes.map((n) => n.id),
    ids.slice(1),
  );
  assert.ok(
    after.last?.timeline.some((e) => e.node === ids[0] && e.kind === 'stopped'),
    JSON.stringify(after.last?.timeline),
  );
});

test('dashboard: false leaves /dashboard behind the plain Bearer check', async (t) => {
  const { urls } = await startFleet(t, { enabled: false });
  const response = await fetchFresh(`${urls[0]}/dashboard/`);
  assert.equal(response.status, 401);
  assert.match(response.headers.get('content-type') ?? '', /json/);
  assert.equal((await fetchFresh(`${urls[0]}/dashboard/`, { headers: { authorization: `Bearer ${SECRET}` } })).status, 404);
});

function member(id: string, extra: Partial<Member> = {}): Member {
  return {
    id,
    role: 'worker',
    zone: 'local-a',
    address: '127.0.0.1',
    agentPort: 1,
    routerPort: 2,
    workloadPort: 3,
    state: 'ready',
    incarnation: 1,
    version: 1,
    load: 0,
    ...extra,
  };
}

test('members that leave the view: preempted with a notice, lost without one, left when stopped; looking stops when nobody watches', async (t) => {
  let members = [
    member('i-self'),
    member('i-spot', { incarnation: 2, noticeDeadline: Date.now() + 5000 }),
    member('i-gone', { incarnation: 3 }),
    member('i-quit', { incarnation: 4 }),
  ];
  const lostListeners: ((m: Member) => void)[] = [];
  let statusCalls = 0;
  const mount = new AgentDashboardMount({
    cluster: 'c',
    secret: SECRET,
    provider: 'local',
    intervalMs: 50,
    idleStopMs: 300,
    peerTimeoutMs: 200,
    agent: {
      selfId: 'i-self',
      members: () => members,
      status: () => {
        statusCalls += 1;
        return { id: 'i-self', role: 'worker', zone: 'local-a', state: 'ready', uptimeMs: 1, load: 0, members: [] };
      },
      metricsText: async () => undefined,
      onMemberLost: (listener) => {
        lostListeners.push(listener);
      },
    },
  });
  t.after(() => mount.stop());
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (mount.owns(url.pathname)) void mount.handle(req, res, url);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const snapshot = async (): Promise<DashboardSnapshot> =>
    (
      await fetchFresh(`${base}/dashboard/api/snapshot`, { headers: { authorization: `Bearer ${SECRET}` } })
    ).json() as Promise<DashboardSnapshot>;

  assert.equal(mount.watched, false, 'nothing is looked at before the first request');
  assert.deepEqual(
    (await snapshot()).nodes.map((n) => n.id),
    ['i-self', 'i-spot', 'i-gone', 'i-quit'],
  );
  assert.equal(mount.watched, true);
  // i-quit leaves gracefully (membership reports its last state, stopped); i-spot (noticed) and i-gone vanish.
  lostListeners.forEach((l) => l(member('i-quit', { state: 'stopped' })));
  members = [member('i-self')];
  const deadline = Date.now() + 5000;
  let s = await snapshot();
  while (s.nodes.length !== 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    s = await snapshot();
  }
  const ends = Object.fromEntries(s.timeline.filter((e) => e.kind !== 'watch').map((e) => [e.node, e.kind]));
  assert.deepEqual(ends, { 'i-spot': 'preemption', 'i-gone': 'crash', 'i-quit': 'stopped' });

  // Nobody watching for idleStopMs: the looking stops (no more calls), until the next request.
  const stopDeadline = Date.now() + 5000;
  while (mount.watched && Date.now() < stopDeadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(mount.watched, false);
  const calls = statusCalls;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(statusCalls, calls, 'no looks while nobody watches');
  await snapshot();
  assert.equal(mount.watched, true);
});

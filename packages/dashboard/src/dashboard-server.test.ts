import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { InstanceRecord } from '@synkti/cloud';
import { DashboardServer } from './dashboard-server.ts';
import { FleetAggregator } from './fleet-aggregator.ts';
import type { AgentStatusView, FleetSource } from './fleet-source.ts';
import { costRate } from './price-table.ts';
import { histogramQuantile, parsePrometheusText, routerCounters } from './prometheus-text.ts';
import type { DashboardSnapshot } from './snapshot.ts';
import { TimelineTracker, type NodeObservation } from './timeline.ts';
import { TrafficWindow } from './traffic-window.ts';

const SECRET = 'a'.repeat(64);

function record(id: string, extra: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id,
    state: 'running',
    privateIp: '127.0.0.1',
    instanceType: 'local.small',
    zone: 'local-a',
    lifecycle: 'spot',
    launchedAt: 1,
    tags: { SynktiCluster: 'demo', SynktiRole: 'worker' },
    ...extra,
  };
}

function status(id: string, state = 'ready'): AgentStatusView {
  return { id, role: 'worker', zone: 'local-a', state, uptimeMs: 65_000, load: 2, members: [{ id, state }] };
}

function metricsText(requests: number, errors: number, fast: number): string {
  return [
    '# HELP synkti_router_requests_total Requests answered',
    '# TYPE synkti_router_requests_total counter',
    `synkti_router_requests_total{code="200"} ${requests - errors}`,
    `synkti_router_requests_total{code="503"} ${errors}`,
    `synkti_router_request_duration_seconds_bucket{le="0.01"} ${fast}`,
    `synkti_router_request_duration_seconds_bucket{le="0.1"} ${requests}`,
    `synkti_router_request_duration_seconds_bucket{le="+Inf"} ${requests}`,
    `synkti_router_request_duration_seconds_sum 1`,
    `synkti_router_request_duration_seconds_count ${requests}`,
  ].join('\n');
}

describe('metrics', () => {
  test('router counters and p99 from Prometheus text', () => {
    const c = routerCounters(parsePrometheusText(metricsText(100, 5, 50)));
    assert.ok(c);
    assert.equal(c.requests, 100);
    assert.equal(c.errors, 5);
    // rank 99 of 100 falls in (0.01, 0.1]: 0.01 + 0.09 * (49/50)
    assert.ok(Math.abs(histogramQuantile(0.99, c.buckets)! - (0.01 + (0.09 * 49) / 50)) < 1e-9);
    assert.equal(routerCounters(parsePrometheusText('synkti_agent_state{state="ready"} 1')), undefined, 'no router: no traffic');
    assert.equal(histogramQuantile(0.99, new Map()), undefined);
  });

  test('fleet rates from per-router deltas survive a router leaving and a counter reset', () => {
    const w = new TrafficWindow({ windowMs: 10_000 });
    const c = (r: number, e: number) => routerCounters(parsePrometheusText(metricsText(r, e, r)))!;
    w.observe(
      0,
      new Map([
        ['a', c(1000, 0)],
        ['b', c(500, 0)],
      ]),
    );
    assert.equal(w.stats().requestsPerSecond, undefined, 'one round: no rate yet');
    w.observe(
      1000,
      new Map([
        ['a', c(1100, 10)],
        ['b', c(600, 0)],
      ]),
    );
    let s = w.stats();
    assert.equal(s.requestsPerSecond, 200);
    assert.equal(s.errorRate, 10 / 200);
    w.observe(2000, new Map([['a', c(50, 0)]])); // b left, a restarted
    s = w.stats();
    assert.equal(s.requestsPerSecond, (200 + 50) / 2);
    assert.equal(s.routers, 1);
    assert.deepEqual(
      s.series.map((p) => p.rps),
      [200, 50],
    );
  });

  test('cost rate: spot vs on-demand from the price table', () => {
    const c = costRate([
      { instanceType: 'local.small', lifecycle: 'spot' },
      { instanceType: 'local.small', lifecycle: 'on-demand' },
      { instanceType: 'x.unknown', lifecycle: 'spot' },
    ]);
    // local.small is priced as t3.medium: $0.0416 on demand, 65% less on spot.
    assert.ok(Math.abs(c.usdPerHour - (0.0416 * 0.35 + 0.0416)) < 1e-9);
    assert.ok(Math.abs(c.onDemandUsdPerHour - 0.0832) < 1e-9);
    assert.ok(c.savings > 0.3 && c.savings < 0.4);
    assert.deepEqual(c.unpriced, ['x.unknown']);
  });
});

describe('timeline', () => {
  test('notice, drain, replacement, preemption and crash, each once', () => {
    const t = new TimelineTracker();
    const obs = (r: InstanceRecord, s?: AgentStatusView, notice?: { action: 'terminate'; time: number }): NodeObservation => ({
      record: r,
      status: s,
      notice,
    });
    const first = t.observe(0, [
      obs(record('i-a'), status('i-a')),
      obs(record('i-b'), status('i-b')),
      obs(record('i-old', { state: 'terminated' })),
    ]);
    assert.deepEqual(
      first.map((e) => e.kind),
      ['watch'],
    );
    assert.match(first[0]!.text, /watching 2 node/);
    const notice = t.observe(1000, [
      obs(record('i-a'), status('i-a'), { action: 'terminate', time: 6000 }),
      obs(record('i-b'), status('i-b')),
    ]);
    assert.deepEqual(
      notice.map((e) => [e.kind, e.node]),
      [['notice', 'i-a']],
    );
    assert.match(notice[0]!.text, /reclaimed in 5\.0s/);
    const drain = t.observe(2000, [
      obs(record('i-a'), status('i-a', 'draining'), { action: 'terminate', time: 6000 }),
      obs(record('i-b'), status('i-b')),
      obs(record('i-c', { tags: { SynktiReplaces: 'i-a' } }), status('i-c', 'joining')),
    ]);
    assert.deepEqual(drain.map((e) => e.kind).sort(), ['drain', 'replacement']);
    const end = t.observe(7000, [
      obs(record('i-a', { state: 'terminated', stateReason: 'Server.SpotInstanceTermination' })),
      obs(record('i-b', { state: 'terminated', stateReason: 'Server.InternalError' })),
      obs(record('i-c', { tags: { SynktiReplaces: 'i-a' } }), status('i-c')),
    ]);
    assert.deepEqual(
      end.map((e) => [e.kind, e.node]),
      [
        ['preemption', 'i-a'],
        ['crash', 'i-b'],
        ['ready', 'i-c'],
      ],
    );
    assert.deepEqual(
      t.observe(8000, [obs(record('i-c'), status('i-c'))]).map((e) => e.kind),
      [],
      'nothing twice; vanished ended nodes are not reported again',
    );
  });

  test('an agent that stops answering: unreachable, unless it had a notice (it drained and left)', () => {
    const t = new TimelineTracker();
    const obs = (r: InstanceRecord, s?: AgentStatusView, notice?: { action: 'terminate'; time: number }): NodeObservation => ({
      record: r,
      status: s,
      notice,
    });
    t.observe(0, [obs(record('i-a'), status('i-a')), obs(record('i-b'), status('i-b'))]);
    t.observe(500, [obs(record('i-a'), status('i-a')), obs(record('i-b'), status('i-b'), { action: 'terminate', time: 5000 })]);
    const quiet = t.observe(1000, [obs(record('i-a')), obs(record('i-b'), undefined, { action: 'terminate', time: 5000 })]);
    assert.deepEqual(
      quiet.map((e) => [e.kind, e.node]),
      [
        ['unreachable', 'i-a'],
        ['drain', 'i-b'],
      ],
    );
  });
});

class FakeSource implements FleetSource {
  cluster = 'demo';
  provider = 'local';
  records = [record('i-1'), record('i-2'), record('i-3')];
  requests = 0;
  async instances(): Promise<InstanceRecord[]> {
    return this.records;
  }
  async status(r: InstanceRecord): Promise<AgentStatusView | undefined> {
    return status(r.id);
  }
  async metrics(): Promise<string | undefined> {
    this.requests += 10;
    return metricsText(this.requests, 0, this.requests);
  }
  async batch() {
    return { run: 'r1', metrics: { generation: 3, queueDepth: 7, queueInFlight: 2, queueDeadLettered: 1, workers: 2 } };
  }
  async pipelines() {
    return {
      backend: 'sqlite',
      jobs: { running: 2, done: 5, failed: 1, cancelled: 0 },
      tasks: { pending: 1, ready: 3, running: 2 },
      windowMs: 86_400_000,
    };
  }
}

test('a big fleet is asked a few agents at a time', async () => {
  let inFlight = 0;
  let most = 0;
  const slow = async <T>(value: T): Promise<T> => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return value;
  };
  const source: FleetSource = {
    cluster: 'big',
    provider: 'local',
    instances: async () => Array.from({ length: 40 }, (_, i) => record(`i-${String(i).padStart(2, '0')}`)),
    status: (r) => slow(status(r.id)),
    metrics: () => slow(undefined),
  };
  const aggregator = new FleetAggregator({ source, concurrency: 4 });
  await aggregator.refresh();
  assert.equal(aggregator.snapshot()?.nodes.length, 40);
  assert.ok(most <= 4 * 2, `at most 4 nodes (2 calls each) at once, saw ${most} calls`);
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** Reads the SSE stream for `ms`, returning the snapshots received. */
function readEvents(
  url: string,
  headers: Record<string, string>,
  ms: number,
): Promise<{ status: number; contentType: string | undefined; snapshots: DashboardSnapshot[] }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let buffer = '';
      const snapshots: DashboardSnapshot[] = [];
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buffer += d;
        let i: number;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (frame.includes('event: snapshot') && data) snapshots.push(JSON.parse(data.slice(6)) as DashboardSnapshot);
        }
      });
      setTimeout(() => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], snapshots });
      }, ms);
    });
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
    req.end();
  });
}

describe('dashboard server', () => {
  const source = new FakeSource();
  const aggregator = new FleetAggregator({ source, intervalMs: 50 });
  const server = new DashboardServer({ aggregator, secret: SECRET, pushIntervalMs: 500 });
  after(async () => {
    aggregator.stop();
    await server.stop();
  });

  test('listens on loopback only', () => {
    assert.throws(() => new DashboardServer({ aggregator, secret: SECRET, host: '0.0.0.0' }), /loopback only/);
  });

  test('one-time login link, HttpOnly cookie, Bearer secret, no secret in the page', async () => {
    await aggregator.start();
    const { url, loginUrl } = await server.start();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(!loginUrl.includes(SECRET), 'the login link does not carry the cluster secret');
    assert.equal((await get(`${url}/`)).status, 401);
    assert.equal((await get(`${url}/events`)).status, 401);
    assert.equal((await get(`${url}/`, { authorization: 'Bearer wrong' })).status, 401);
    const login = await get(loginUrl);
    assert.equal(login.status, 303);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.ok(!cookie.includes(SECRET));
    assert.equal((await get(loginUrl)).status, 401, 'a login link works once');
    const session = cookie.split(';')[0]!;
    const page = await get(`${url}/`, { cookie: session });
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>Synkti dashboard<\/title>/);
    assert.ok(!page.body.includes(SECRET));
    const script = /src="\.(\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    assert.ok(script, 'the page loads its bundled script from ./assets (relative: agents serve it under /dashboard/)');
    const js = await get(`${url}${script}`, { cookie: session });
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.ok(
      !/https?:\/\/(?!127\.0\.0\.1)[a-z]/i.test(page.body.replace(/http:\/\/www\.w3\.org\/[^"]+/g, '')),
      'no CDN: nothing loaded from elsewhere',
    );
    assert.equal((await get(`${url}/api/snapshot`, { authorization: `Bearer ${SECRET}` })).status, 200);
    assert.equal((await get(`${url}/../../etc/passwd`, { cookie: session })).status, 404);
    // DNS rebinding: a page on another origin resolving to 127.0.0.1 sends its own Host.
    assert.equal((await get(`${url}/`, { cookie: session, host: 'evil.example:80' })).status, 421);
  });

  test('SSE: the snapshot at once, then at most one per 500 ms', async () => {
    const { snapshots, status: code, contentType } = await readEvents(`${server.url}/events`, { authorization: `Bearer ${SECRET}` }, 1600);
    assert.equal(code, 200);
    assert.match(String(contentType), /text\/event-stream/);
    assert.ok(snapshots.length >= 2, `got ${snapshots.length} snapshots in 1.6 s`);
    assert.ok(snapshots.length <= 4, `the aggregator refreshes every 50 ms but pushes are throttled: got ${snapshots.length} in 1.6 s`);
    for (let i = 1; i < snapshots.length; i++) assert.ok(snapshots[i]!.at - snapshots[i - 1]!.at >= 400, 'pushes are spaced');
    const last = snapshots.at(-1)!;
    assert.equal(last.cluster, 'demo');
    assert.deepEqual(
      last.nodes.map((n) => [n.id, n.state, n.role]),
      [
        ['i-1', 'ready', 'worker'],
        ['i-2', 'ready', 'worker'],
        ['i-3', 'ready', 'worker'],
      ],
    );
    assert.ok(last.traffic.requestsPerSecond! > 0, "requests/s from the routers' counters");
    assert.equal(last.traffic.errorRate, 0);
    assert.equal(last.batch?.queueDepth, 7);
    assert.equal(last.batch?.queueDeadLettered, 1);
    assert.deepEqual(last.pipelines?.jobs, { running: 2, done: 5, failed: 1, cancelled: 0 });
    assert.ok(last.cost.usdPerHour > 0 && last.cost.usdPerHour < last.cost.onDemandUsdPerHour);
    assert.equal(last.timeline[0]?.kind, 'watch');
    // The stream we dropped is released.
    const deadline = Date.now() + 2000;
    while (server.streamCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.streamCount, 0);
  });
});

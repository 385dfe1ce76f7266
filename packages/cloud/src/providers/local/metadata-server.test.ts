import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { runMetadataConformance } from '../../conformance/metadata.ts';
import { createImdsClient } from '../../metadata/imds-client.ts';
import type { InstanceIdentity, InterruptionNotice, RebalanceRecommendation } from '../../types.ts';
import { formatImdsTime, startMetadataServer, type MetadataSource } from './metadata-server.ts';

const IDENTITY: InstanceIdentity = {
  instanceId: 'i-0abc123def4567890',
  instanceType: 'g5.xlarge',
  region: 'us-east-1',
  zone: 'us-east-1b',
  privateIp: '127.0.0.1',
};
const TAGS = { SynktiCluster: 'demo', SynktiRole: 'serve', 'Synkti Port Agent': '7946', Name: 'a/b?c' };

interface MemoryState {
  identity: InstanceIdentity;
  tags: Record<string, string>;
  userData: string | undefined;
  notice: InterruptionNotice | null;
  rebalance: RebalanceRecommendation | null;
  /** When set, every source call rejects with it. */
  failure: Error | undefined;
  /** When set, every source call waits on it (to simulate a hung service). */
  hang: Promise<void> | undefined;
}

function memorySource(initial: Partial<MemoryState> = {}): { state: MemoryState; source: MetadataSource } {
  const state: MemoryState = {
    identity: IDENTITY,
    tags: { ...TAGS },
    userData: undefined,
    notice: null,
    rebalance: null,
    failure: undefined,
    hang: undefined,
    ...initial,
  };
  const read = async <T>(f: () => T): Promise<T> => {
    if (state.hang) await state.hang;
    if (state.failure) throw state.failure;
    return f();
  };
  return {
    state,
    source: {
      identity: () => read(() => state.identity),
      tags: () => read(() => state.tags),
      userData: () => read(() => state.userData),
      interruptionNotice: () => read(() => state.notice),
      rebalanceRecommendation: () => read(() => state.rebalance),
    },
  };
}

async function putToken(
  url: string,
  headers: Record<string, string> = { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
): Promise<Response> {
  return fetch(`${url}/latest/api/token`, { method: 'PUT', headers });
}

async function tokenFor(url: string, ttl = '60'): Promise<string> {
  const res = await putToken(url, { 'X-aws-ec2-metadata-token-ttl-seconds': ttl });
  assert.equal(res.status, 200);
  return res.text();
}

async function getWith(url: string, path: string, token?: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`${url}${path}`, { headers: token === undefined ? {} : { 'X-aws-ec2-metadata-token': token } });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

runMetadataConformance('IMDS client against the local metadata server', async () => {
  const { state, source } = memorySource({ userData: '#!/bin/sh\necho boot\n' });
  const server = await startMetadataServer({ source });
  return {
    metadata: createImdsClient({ endpoint: server.url }),
    expected: { identity: IDENTITY, tags: TAGS, userData: '#!/bin/sh\necho boot\n' },
    async setNotice(n) {
      state.notice = n;
    },
    async setRebalance(r) {
      state.rebalance = r;
    },
    cleanup: () => server.stop(),
  };
});

runMetadataConformance('IMDS client against the local metadata server (no user data)', async () => {
  const { state, source } = memorySource({ userData: undefined });
  const server = await startMetadataServer({ source });
  return {
    metadata: createImdsClient({ endpoint: server.url }),
    expected: { identity: IDENTITY, tags: TAGS },
    async setNotice(n) {
      state.notice = n;
    },
    async setRebalance(r) {
      state.rebalance = r;
    },
    cleanup: () => server.stop(),
  };
});

describe('metadata server speaks IMDSv2', () => {
  it('refuses every GET without a valid token with 401, whatever the path', async (t) => {
    const { source } = memorySource({ notice: { action: 'terminate', time: Date.now() + 120_000 } });
    const server = await startMetadataServer({ source });
    t.after(() => server.stop());
    for (const path of ['/latest/meta-data/spot/instance-action', '/latest/meta-data/instance-id', '/latest/user-data', '/nope']) {
      assert.equal((await getWith(server.url, path)).status, 401, `token-less GET ${path}`);
      assert.equal((await getWith(server.url, path, 'not-a-token')).status, 401, `bad-token GET ${path}`);
    }
  });

  it('issues tokens only for a TTL from 1 to 21600 seconds and never through a proxy', async (t) => {
    const server = await startMetadataServer({ source: memorySource().source });
    t.after(() => server.stop());
    assert.equal((await putToken(server.url, {})).status, 400, 'missing TTL');
    for (const ttl of ['0', '21601', '-5', 'abc', '1.5', '']) {
      assert.equal((await putToken(server.url, { 'X-aws-ec2-metadata-token-ttl-seconds': ttl })).status, 400, `TTL ${JSON.stringify(ttl)}`);
    }
    for (const ttl of ['1', '21600']) {
      const res = await putToken(server.url, { 'X-aws-ec2-metadata-token-ttl-seconds': ttl });
      assert.equal(res.status, 200, `TTL ${ttl}`);
      assert.equal(res.headers.get('x-aws-ec2-metadata-token-ttl-seconds'), ttl);
      assert.ok((await res.text()).length >= 32);
    }
    const proxied = await putToken(server.url, { 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '203.0.113.9' });
    assert.equal(proxied.status, 403);
    assert.equal((await fetch(`${server.url}/latest/api/token`)).status, 405, 'GET on the token path');
    const token = await tokenFor(server.url);
    const post = await fetch(`${server.url}/latest/meta-data/instance-id`, {
      method: 'POST',
      headers: { 'X-aws-ec2-metadata-token': token },
    });
    assert.equal(post.status, 405);
  });

  it('serves the metadata paths as plain text, 404 for what is absent', async (t) => {
    const { state, source } = memorySource();
    const server = await startMetadataServer({ source });
    t.after(() => server.stop());
    const token = await tokenFor(server.url);
    const get = (path: string) => getWith(server.url, path, token);

    assert.deepEqual(await get('/latest/meta-data/instance-id'), { status: 200, body: IDENTITY.instanceId, type: 'text/plain' });
    assert.equal((await get('/latest/meta-data/instance-type')).body, 'g5.xlarge');
    assert.equal((await get('/latest/meta-data/placement/availability-zone')).body, 'us-east-1b');
    assert.equal((await get('/latest/meta-data/placement/region')).body, 'us-east-1');
    assert.equal((await get('/latest/meta-data/local-ipv4')).body, '127.0.0.1');
    assert.equal((await get('/latest/meta-data/tags/instance')).body, Object.keys(TAGS).sort().join('\n'));
    assert.equal((await get('/latest/meta-data/tags/instance/SynktiRole')).body, 'serve');
    assert.equal((await get(`/latest/meta-data/tags/instance/${encodeURIComponent('Synkti Port Agent')}`)).body, '7946');
    assert.equal((await get('/latest/meta-data/tags/instance/Missing')).status, 404);
    assert.equal((await get('/latest/user-data')).status, 404);
    assert.equal((await get('/latest/meta-data/spot/instance-action')).status, 404);
    assert.equal((await get('/latest/meta-data/events/recommendations/rebalance')).status, 404);
    assert.equal((await get('/latest/meta-data/no-such-thing')).status, 404);

    state.userData = 'cluster=demo';
    state.notice = { action: 'terminate', time: Date.UTC(2026, 0, 1, 12, 0, 0, 999) };
    state.rebalance = { noticeTime: Date.UTC(2026, 0, 1, 11, 58, 30, 250) };
    assert.equal((await get('/latest/user-data')).body, 'cluster=demo');
    assert.deepEqual(await get('/latest/meta-data/spot/instance-action'), {
      status: 200,
      body: '{"action":"terminate","time":"2026-01-01T12:00:00Z"}',
      type: 'text/plain',
    });
    assert.equal((await get('/latest/meta-data/events/recommendations/rebalance')).body, '{"noticeTime":"2026-01-01T11:58:30Z"}');
  });

  it('serves extra paths from otherPath and 404s tags a source does not expose', async (t) => {
    const { source } = memorySource();
    const extra: MetadataSource = {
      ...source,
      tags: async () => undefined,
      otherPath: async (path) => (path === '/latest/meta-data/ami-id' ? 'ami-0123456789abcdef0' : undefined),
    };
    const server = await startMetadataServer({ source: extra });
    t.after(() => server.stop());
    const token = await tokenFor(server.url);
    assert.equal((await getWith(server.url, '/latest/meta-data/ami-id', token)).body, 'ami-0123456789abcdef0');
    assert.equal((await getWith(server.url, '/latest/meta-data/mac', token)).status, 404, 'otherPath undefined is 404');
    assert.equal((await getWith(server.url, '/latest/meta-data/ami-id')).status, 401, 'extra paths need the token too');
    assert.equal((await getWith(server.url, '/latest/meta-data/tags/instance', token)).status, 404);
    assert.equal((await getWith(server.url, '/latest/meta-data/tags/instance/SynktiRole', token)).status, 404);
    assert.equal(
      (await getWith(server.url, '/latest/meta-data/instance-id', token)).body,
      IDENTITY.instanceId,
      'the fixed paths still come from the source',
    );
    await assert.rejects(createImdsClient({ endpoint: server.url }).tags(), (e: unknown) => isSynktiError(e, 'E_IMDS_TAGS_DISABLED'));
  });

  it('answers 500 when the source fails, and keeps serving', async (t) => {
    const { state, source } = memorySource();
    const server = await startMetadataServer({ source });
    t.after(() => server.stop());
    const token = await tokenFor(server.url);
    state.failure = new Error('sqlite is locked');
    const failed = await getWith(server.url, '/latest/meta-data/spot/instance-action', token);
    assert.equal(failed.status, 500);
    assert.doesNotMatch(failed.body, /sqlite/, 'internal errors are not leaked');
    state.failure = undefined;
    assert.equal((await getWith(server.url, '/latest/meta-data/instance-id', token)).status, 200);
  });

  it('rejects an expired token with 401 (injected clock) and the client recovers', async (t) => {
    let now = 1_000_000;
    const { state, source } = memorySource({ notice: { action: 'terminate', time: Date.UTC(2026, 0, 1, 12) } });
    const server = await startMetadataServer({ source, clock: () => now });
    t.after(() => server.stop());
    const token = await tokenFor(server.url, '10');
    now += 9_999;
    assert.equal((await getWith(server.url, '/latest/meta-data/instance-id', token)).status, 200);
    now += 1;
    assert.equal((await getWith(server.url, '/latest/meta-data/instance-id', token)).status, 401);

    // The client's own clock says its 6-hour token is fresh; the server has moved on.
    const client = createImdsClient({ endpoint: server.url });
    assert.deepEqual(await client.interruptionNotice(), state.notice);
    now += 21_600_000;
    assert.deepEqual(await client.interruptionNotice(), state.notice);
  });

  it('forgets tokens on restart; the client gets a new token and recovers', async (t) => {
    const { state, source } = memorySource({ rebalance: { noticeTime: Date.UTC(2026, 0, 1, 11, 59) } });
    const first = await startMetadataServer({ source });
    const client = createImdsClient({ endpoint: first.url });
    assert.deepEqual(await client.rebalanceRecommendation(), state.rebalance);
    const oldToken = await tokenFor(first.url);
    await first.stop();
    await first.stop(); // idempotent

    const second = await startMetadataServer({ source, port: first.port });
    t.after(() => second.stop());
    assert.equal(second.url, first.url);
    assert.equal((await getWith(second.url, '/latest/meta-data/instance-id', oldToken)).status, 401);
    assert.deepEqual(await client.rebalanceRecommendation(), state.rebalance);
    assert.deepEqual(await client.identity(), IDENTITY);
  });

  it('formats times as EC2 does: UTC, whole seconds, no milliseconds', () => {
    assert.equal(formatImdsTime(Date.UTC(2026, 0, 1, 12, 0, 0, 0)), '2026-01-01T12:00:00Z');
    assert.equal(formatImdsTime(Date.UTC(2026, 0, 1, 12, 0, 0, 999)), '2026-01-01T12:00:00Z');
  });
});

/** A scriptable fake IMDS for failure shapes the real server never produces. */
async function fakeImds(
  t: { after(fn: () => Promise<void>): void },
  route: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; puts: () => number }> {
  let puts = 0;
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      puts++;
      res.end('fake-token');
      return;
    }
    route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, puts: () => puts };
}

const isUnavailable = (e: unknown) => isSynktiError(e, 'E_IMDS_UNAVAILABLE');

describe('IMDS client failures are never "no notice"', () => {
  it('throws E_IMDS_UNAVAILABLE with a hint when nothing listens', async (t) => {
    const server = await startMetadataServer({ source: memorySource().source });
    await server.stop();
    const client = createImdsClient({ endpoint: server.url, retries: 1 });
    await assert.rejects(client.interruptionNotice(), (e: unknown) => {
      assert.ok(isUnavailable(e));
      assert.match((e as { hint: string }).hint, /HttpPutResponseHopLimit|SYNKTI_IMDS_ENDPOINT/);
      return true;
    });
    await assert.rejects(client.rebalanceRecommendation(), isUnavailable);
    await assert.rejects(client.userData(), isUnavailable);
    t.diagnostic('connection refused -> E_IMDS_UNAVAILABLE');
  });

  it('throws E_IMDS_UNAVAILABLE on 5xx, on a timeout, and recovers afterwards', async (t) => {
    const { state, source } = memorySource();
    const server = await startMetadataServer({ source });
    t.after(() => server.stop());
    const client = createImdsClient({ endpoint: server.url, timeoutMs: 100, retries: 1 });
    assert.equal(await client.interruptionNotice(), null);

    state.failure = new Error('boom');
    await assert.rejects(client.interruptionNotice(), isUnavailable);
    state.failure = undefined;

    let release!: () => void;
    state.hang = new Promise<void>((resolve) => {
      release = resolve;
    });
    await assert.rejects(client.interruptionNotice(), isUnavailable);
    state.hang = undefined;
    release();

    state.notice = { action: 'hibernate', time: Date.UTC(2026, 0, 1, 12) };
    assert.deepEqual(await client.interruptionNotice(), state.notice);
  });

  it('throws E_IMDS_UNAVAILABLE for an unreadable notice or rebalance body', async (t) => {
    const bodies = [
      '{"action":"terminate","time":',
      '{"action":"terminate","time":"soon"}',
      '{"action":7,"time":"2026-01-01T12:00:00Z"}',
      '{"action":"terminate","time":"2026-01-01T12:00:00"}',
      '[]',
      'null',
    ];
    let body = '';
    const fake = await fakeImds(t, (_req, res) => {
      res.end(body);
    });
    const client = createImdsClient({ endpoint: fake.url });
    for (body of bodies) {
      await assert.rejects(client.interruptionNotice(), isUnavailable, body);
      await assert.rejects(client.rebalanceRecommendation(), isUnavailable, body);
    }
    body = '{"action":"stop","time":"2026-01-01T12:00:00Z"}';
    assert.deepEqual(await client.interruptionNotice(), { action: 'stop', time: Date.UTC(2026, 0, 1, 12) });
    // An action AWS may add later still means the instance is going away: drain, never miss it.
    body = '{"action":"reboot-later","time":"2026-01-01T12:00:00Z"}';
    assert.deepEqual(await client.interruptionNotice(), { action: 'terminate', time: Date.UTC(2026, 0, 1, 12) });
  });

  it('fetches one token for many calls, and 401 twice in a row is an error, not "no notice"', async (t) => {
    let mode: 'ok' | 'unauthorized' = 'ok';
    const fake = await fakeImds(t, (req, res) => {
      if (mode === 'unauthorized' || req.headers['x-aws-ec2-metadata-token'] !== 'fake-token') {
        res.statusCode = 401;
        res.end();
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    const client = createImdsClient({ endpoint: fake.url });
    await Promise.all(Array.from({ length: 8 }, () => client.interruptionNotice()));
    assert.equal(await client.interruptionNotice(), null);
    assert.equal(fake.puts(), 1, 'the token is cached and shared');
    mode = 'unauthorized';
    await assert.rejects(client.interruptionNotice(), isUnavailable);
    assert.equal(fake.puts(), 2, 'one fresh token per 401');
  });

  it('refreshes the token before it expires', async (t) => {
    const fake = await fakeImds(t, (_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    let now = 0;
    const client = createImdsClient({ endpoint: fake.url, tokenTtlSeconds: 600, clock: () => now });
    await client.userData();
    now = 600_000 - 60_001;
    await client.userData();
    assert.equal(fake.puts(), 1);
    now = 600_000 - 59_999;
    await client.userData();
    assert.equal(fake.puts(), 2, 'a token within a minute of expiry is replaced');
  });

  it('reports disabled instance tags as E_IMDS_TAGS_DISABLED', async (t) => {
    const fake = await fakeImds(t, (_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    await assert.rejects(createImdsClient({ endpoint: fake.url }).tags(), (e: unknown) => isSynktiError(e, 'E_IMDS_TAGS_DISABLED'));
  });

  it('takes its endpoint from SYNKTI_IMDS_ENDPOINT and validates options', async (t) => {
    const server = await startMetadataServer({ source: memorySource().source });
    t.after(() => server.stop());
    const saved = process.env.SYNKTI_IMDS_ENDPOINT;
    process.env.SYNKTI_IMDS_ENDPOINT = `${server.url}/`;
    try {
      assert.deepEqual(await createImdsClient().identity(), IDENTITY);
    } finally {
      if (saved === undefined) delete process.env.SYNKTI_IMDS_ENDPOINT;
      else process.env.SYNKTI_IMDS_ENDPOINT = saved;
    }
    assert.throws(
      () => createImdsClient({ tokenTtlSeconds: 0 }),
      (e: unknown) => isSynktiError(e, 'E_INVALID_OPTION'),
    );
    assert.throws(
      () => createImdsClient({ tokenTtlSeconds: 21601 }),
      (e: unknown) => isSynktiError(e, 'E_INVALID_OPTION'),
    );
    assert.throws(
      () => createImdsClient({ endpoint: 'not a url' }),
      (e: unknown) => isSynktiError(e, 'E_INVALID_OPTION'),
    );
  });
});

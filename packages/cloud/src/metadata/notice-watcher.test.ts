import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import type { InstanceIdentity, InstanceMetadata, InterruptionNotice, RebalanceRecommendation } from '../types.ts';
import { startMetadataServer, type MetadataServer, type MetadataSource } from '../providers/local/metadata-server.ts';
import { createImdsClient } from './imds-client.ts';
import { NoticeWatcher } from './notice-watcher.ts';

const IDENTITY: InstanceIdentity = {
  instanceId: 'i-1',
  instanceType: 't3.micro',
  region: 'us-east-1',
  zone: 'us-east-1a',
  privateIp: '127.0.0.1',
};

/** In-memory instance state behind a real IMDSv2 server on 127.0.0.1. */
function instance() {
  const state = { notice: null as InterruptionNotice | null, rebalance: null as RebalanceRecommendation | null };
  const source: MetadataSource = {
    identity: async () => IDENTITY,
    tags: async () => ({ SynktiCluster: 'test', SynktiRole: 'serve' }),
    userData: async () => undefined,
    interruptionNotice: async () => state.notice,
    rebalanceRecommendation: async () => state.rebalance,
  };
  return { state, source };
}

async function serve(t: { after(fn: () => Promise<void>): void }, source: MetadataSource, port?: number): Promise<MetadataServer> {
  const server = await startMetadataServer({ source, ...(port === undefined ? {} : { port }) });
  t.after(() => server.stop());
  return server;
}

/** A metadata wrapper that counts calls and the most that were ever in flight at once. */
function counting(inner: InstanceMetadata) {
  const stats = { noticeCalls: 0, rebalanceCalls: 0, inFlight: 0, maxInFlight: 0 };
  const listeners: Array<() => void> = [];
  const track = async <T>(f: () => Promise<T>): Promise<T> => {
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      return await f();
    } finally {
      stats.inFlight--;
      for (const l of listeners.splice(0)) l();
    }
  };
  const metadata: InstanceMetadata = {
    ...inner,
    interruptionNotice: () => {
      stats.noticeCalls++;
      return track(() => inner.interruptionNotice());
    },
    rebalanceRecommendation: () => {
      stats.rebalanceCalls++;
      return track(() => inner.rebalanceRecommendation());
    },
  };
  /** Resolves once some call has finished after `predicate` holds. */
  const until = async (predicate: () => boolean): Promise<void> => {
    while (!predicate()) await new Promise<void>((resolve) => listeners.push(resolve));
  };
  return { metadata, stats, until };
}

const at = (iso: string) => Date.parse(iso);

describe('NoticeWatcher against the real metadata server over IMDSv2', () => {
  it('handles a notice repeated on 10 polls exactly once, and a later notice not at all', async (t) => {
    const { state, source } = instance();
    const server = await serve(t, source);
    const seen: InterruptionNotice[] = [];
    const errors: unknown[] = [];
    const watcher = new NoticeWatcher({
      metadata: createImdsClient({ endpoint: server.url }),
      onInterruption: (n) => {
        seen.push(n);
      },
      onError: (e) => errors.push(e),
    });
    await watcher.pollOnce();
    assert.deepEqual(seen, []);

    state.notice = { action: 'terminate', time: at('2026-01-01T12:00:00Z') };
    for (let i = 0; i < 10; i++) await watcher.pollOnce();
    assert.deepEqual(seen, [{ action: 'terminate', time: at('2026-01-01T12:00:00Z') }]);

    // One interruption per instance life, even if the cloud later reports another time.
    state.notice = { action: 'terminate', time: at('2026-01-01T12:01:00Z') };
    for (let i = 0; i < 3; i++) await watcher.pollOnce();
    assert.equal(seen.length, 1);
    assert.deepEqual(watcher.status().interruption, { action: 'terminate', time: at('2026-01-01T12:00:00Z') });
    assert.deepEqual(errors, []);
  });

  it('reports an outage through onError with no false notice, and sees the notice after a restart on the same port', async (t) => {
    const { state, source } = instance();
    const first = await startMetadataServer({ source });
    const seen: InterruptionNotice[] = [];
    const errors: unknown[] = [];
    const watcher = new NoticeWatcher({
      metadata: createImdsClient({ endpoint: first.url, timeoutMs: 200, retries: 1 }),
      onInterruption: (n) => {
        seen.push(n);
      },
      onError: (e) => errors.push(e),
    });
    await watcher.pollOnce();
    assert.equal(watcher.status().consecutiveFailures, 0);
    await first.stop();

    for (let i = 0; i < 3; i++) await watcher.pollOnce();
    assert.deepEqual(seen, [], 'an outage is not a notice');
    assert.equal(watcher.status().consecutiveFailures, 3);
    assert.equal(errors.length, 6, 'both paths fail on each of the 3 polls');
    assert.ok(errors.every((e) => isSynktiError(e, 'E_IMDS_UNAVAILABLE')));

    // The instance's metadata service comes back (new process: old tokens are void) with a notice.
    state.notice = { action: 'stop', time: at('2026-01-01T12:02:00Z') };
    await serve(t, source, first.port);
    await watcher.pollOnce();
    assert.deepEqual(seen, [{ action: 'stop', time: at('2026-01-01T12:02:00Z') }]);
    assert.equal(watcher.status().consecutiveFailures, 0);
    assert.equal(errors.length, 6);
  });

  it('sees the notice with a token while a token-less GET is refused with 401', async (t) => {
    const { state, source } = instance();
    const server = await serve(t, source);
    state.notice = { action: 'terminate', time: at('2026-01-01T12:00:00Z') };
    const bare = await fetch(`${server.url}/latest/meta-data/spot/instance-action`);
    await bare.text();
    assert.equal(bare.status, 401, 'a watcher without a token would never see the notice');

    const seen: InterruptionNotice[] = [];
    const watcher = new NoticeWatcher({
      metadata: createImdsClient({ endpoint: server.url }),
      onInterruption: (n) => {
        seen.push(n);
      },
    });
    await watcher.pollOnce();
    assert.deepEqual(seen, [state.notice]);
  });

  it('handles each distinct rebalance recommendation once, independently of the notice', async (t) => {
    const { state, source } = instance();
    const server = await serve(t, source);
    const rebalances: RebalanceRecommendation[] = [];
    const notices: InterruptionNotice[] = [];
    const watcher = new NoticeWatcher({
      metadata: createImdsClient({ endpoint: server.url }),
      onInterruption: (n) => {
        notices.push(n);
      },
      onRebalance: (r) => {
        rebalances.push(r);
      },
    });
    state.rebalance = { noticeTime: at('2026-01-01T11:50:00Z') };
    for (let i = 0; i < 5; i++) await watcher.pollOnce();
    assert.deepEqual(rebalances, [{ noticeTime: at('2026-01-01T11:50:00Z') }]);
    assert.deepEqual(notices, [], 'a rebalance recommendation is not an interruption');

    state.rebalance = { noticeTime: at('2026-01-01T11:55:00Z') };
    state.notice = { action: 'terminate', time: at('2026-01-01T11:57:00Z') };
    for (let i = 0; i < 5; i++) await watcher.pollOnce();
    assert.deepEqual(rebalances, [{ noticeTime: at('2026-01-01T11:50:00Z') }, { noticeTime: at('2026-01-01T11:55:00Z') }]);
    assert.equal(notices.length, 1);
  });

  it('polls on its own after start(), finds a notice that appears later, and stop() stops polling', async (t) => {
    const { state, source } = instance();
    const server = await serve(t, source);
    const { metadata, stats, until } = counting(createImdsClient({ endpoint: server.url }));
    let resolveSeen!: (n: InterruptionNotice) => void;
    const firstNotice = new Promise<InterruptionNotice>((resolve) => {
      resolveSeen = resolve;
    });
    let calls = 0;
    const watcher = new NoticeWatcher({
      metadata,
      pollIntervalMs: 10,
      onInterruption: (n) => {
        calls++;
        resolveSeen(n);
      },
    });
    t.after(() => watcher.stop());
    watcher.start();
    watcher.start(); // no second loop
    await until(() => stats.rebalanceCalls >= 3);
    state.notice = { action: 'hibernate', time: at('2026-01-01T12:00:00Z') };
    assert.deepEqual(await firstNotice, state.notice);
    const pollsAtNotice = watcher.status().polls;
    await until(() => watcher.status().polls >= pollsAtNotice + 5);
    assert.equal(calls, 1, 'the repeated notice is handled once');
    assert.equal(stats.maxInFlight <= 2, true, 'polls never overlap (one call per path at most)');

    await watcher.stop();
    await watcher.stop(); // idempotent
    const after = { ...stats };
    assert.equal(watcher.status().running, false);
    // Nothing to wait on for the absence of polls: give a stray timer ample time to fire.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(stats.rebalanceCalls, after.rebalanceCalls);
    assert.equal(stats.noticeCalls, after.noticeCalls);
  });

  it('never overlaps polls, even when the metadata service is slow', async (t) => {
    const { source } = instance();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: MetadataSource = {
      ...source,
      interruptionNotice: async () => {
        await gate;
        return null;
      },
    };
    const server = await serve(t, slow);
    const { metadata, stats } = counting(createImdsClient({ endpoint: server.url, timeoutMs: 5000 }));
    const watcher = new NoticeWatcher({ metadata, pollIntervalMs: 5, onInterruption: () => {} });
    t.after(() => watcher.stop());
    const a = watcher.pollOnce();
    const b = watcher.pollOnce();
    assert.equal(a, b, 'a poll during a poll is the same poll');
    watcher.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(stats.noticeCalls, 1, 'no new poll starts while one is in flight');
    release();
    await a;
    assert.equal(stats.maxInFlight, 2);
  });

  it('survives handlers that throw or reject, without delaying polls', async (t) => {
    const { state, source } = instance();
    const server = await serve(t, source);
    const errors: unknown[] = [];
    let finishDrain!: () => void;
    const drain = new Promise<void>((resolve) => {
      finishDrain = resolve;
    });
    const watcher = new NoticeWatcher({
      metadata: createImdsClient({ endpoint: server.url }),
      onInterruption: async () => {
        await drain;
        throw new Error('drain failed');
      },
      onRebalance: () => {
        throw new Error('launch failed');
      },
      onError: (e) => errors.push(e),
    });
    state.rebalance = { noticeTime: at('2026-01-01T11:50:00Z') };
    state.notice = { action: 'terminate', time: at('2026-01-01T12:00:00Z') };
    await watcher.pollOnce();
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['launch failed'],
    );
    await watcher.pollOnce(); // the pending drain does not block the next poll
    assert.equal(watcher.status().polls, 2);
    finishDrain();
    await drain;
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['launch failed', 'drain failed'],
    );
  });

  it('rejects a non-positive poll interval', () => {
    assert.throws(
      () =>
        new NoticeWatcher({ metadata: createImdsClient({ endpoint: 'http://127.0.0.1:1' }), pollIntervalMs: 0, onInterruption: () => {} }),
      (e: unknown) => isSynktiError(e, 'E_INVALID_OPTION'),
    );
  });
});

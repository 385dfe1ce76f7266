/**
 * The cluster config's `router` block (connect, first byte, stream idle, peer hold) and
 * how it crosses agent versions: it travels in the user data's `tuning`, beside the strict
 * `spec`, so an agent that predates it still boots the config (with its own defaults).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configIssues } from './testing/config-issues.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';
import { validateCluster } from './cluster-spec.ts';

const BASE = { name: 'edge', pools: { worker: { count: 2 } } };

describe('router block in the cluster config', () => {
  it('resolves the durations given to milliseconds, and nothing when absent', () => {
    const spec = validateCluster({
      ...BASE,
      router: { connectTimeout: '1500ms', firstByteTimeout: '30s', streamIdleTimeout: '1 minute', peerHold: '0s' },
    });
    assert.deepEqual(spec.router, { connectTimeoutMs: 1500, firstByteTimeoutMs: 30_000, streamIdleTimeoutMs: 60_000, peerHoldMs: 0 });
    assert.deepEqual(validateCluster({ ...BASE, router: { connectTimeout: '3s' } }).router, { connectTimeoutMs: 3000 });
    assert.equal('router' in validateCluster(BASE), false);
    assert.equal('router' in validateCluster({ ...BASE, router: {} }), false);
  });

  it('names the field and the fix for every bad value', () => {
    const cases: Array<[unknown, string, RegExp, RegExp]> = [
      [
        { connectTimeout: '0s' },
        'router.connectTimeout',
        /must be more than 0: with no limit a connect to a host that drops packets never ends/,
        /connectTimeout: "2s"/,
      ],
      [{ streamIdleTimeout: 0 }, 'router.streamIdleTimeout', /must be more than 0/, /streamIdleTimeout: "60s"/],
      [{ firstByteTimeout: 'soon' }, 'router.firstByteTimeout', /"soon" is not a duration/, /duration like/],
      [{ peerHold: '90000s' }, 'router.peerHold', /is more than a day/, /peerHold: "10s"/],
      [{ conectTimeout: '1s' }, 'router.conectTimeout', /./, /connectTimeout/],
    ];
    for (const [router, path, message, hint] of cases) {
      const issues = configIssues({ ...BASE, router });
      const issue = issues.find((i) => i.path === path);
      assert.ok(issue, `${JSON.stringify(router)}: an issue at ${path}, got ${JSON.stringify(issues)}`);
      assert.match(issue.message, message);
      assert.match(issue.hint, hint);
    }
    const beyond = configIssues({ ...BASE, timeouts: { requestTimeout: '30s' }, router: { firstByteTimeout: '1 minute' } });
    assert.deepEqual(
      beyond.map((i) => i.path),
      ['router.firstByteTimeout'],
    );
    assert.match(beyond[0]!.message, /^1m00s is longer than timeouts.requestTimeout \(30.0s\): the request ends first$/);
    // `router` as a port number (it is ports.router): the example is the block.
    const wrongType = configIssues({ ...BASE, router: 8080 });
    assert.match(wrongType[0]!.hint, /router: \{ connectTimeout: "2s"/);
  });

  it('travels beside the strict spec: a config without it serializes as before, one with it still boots an older agent', () => {
    const plain = validateCluster(BASE);
    const plainText = serializeCluster(plain);
    assert.deepEqual(Object.keys(JSON.parse(plainText) as object), ['format', 'spec'], 'no tuning key when nothing is set');
    assert.deepEqual(deserializeCluster(plainText), plain);

    const tuned = validateCluster({ ...BASE, router: { connectTimeout: '1s', peerHold: '5s' } });
    const text = serializeCluster(tuned);
    const envelope = JSON.parse(text) as { format: string; spec: Record<string, unknown>; tuning: unknown };
    assert.deepEqual(envelope.tuning, { router: { connectTimeoutMs: 1000, peerHoldMs: 5000 } });
    assert.equal('router' in envelope.spec, false, 'the strict spec holds no router key');
    assert.equal(
      JSON.stringify(envelope.spec),
      JSON.stringify(JSON.parse(plainText).spec),
      'the spec part is what an untuned config carries',
    );
    assert.deepEqual(deserializeCluster(text), tuned, 'this version reads it back');
    // An agent from before the router block reads only format and spec: it boots with its defaults.
    assert.deepEqual(deserializeCluster(JSON.stringify({ format: envelope.format, spec: envelope.spec })), plain);
    // Why not in spec: the spec is strict wherever it is read, so a key it does not know stops the boot.
    assert.throws(
      () => deserializeCluster(JSON.stringify({ format: envelope.format, spec: { ...envelope.spec, router: { connectTimeoutMs: 1000 } } })),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG_DATA' && /router/.test(e.message),
    );
  });

  it('checks the tuning it knows and drops what a newer writer added', () => {
    const spec = validateCluster(BASE);
    const strict = (JSON.parse(serializeCluster(spec)) as { spec: unknown }).spec;
    const newer = JSON.stringify({
      format: 'synkti-cluster/v1',
      spec: strict,
      tuning: { router: { connectTimeoutMs: 800, retryBudget: 3 }, gossip: { fanout: 4 } },
    });
    assert.deepEqual(deserializeCluster(newer).router, { connectTimeoutMs: 800 });
    assert.throws(
      () => deserializeCluster(JSON.stringify({ format: 'synkti-cluster/v1', spec: strict, tuning: { router: { connectTimeoutMs: -1 } } })),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG_DATA' && /tuning\.router\.connectTimeoutMs/.test(e.message),
    );
    assert.throws(
      () => deserializeCluster(JSON.stringify({ format: 'synkti-cluster/v1', spec: strict, tuning: 'fast' })),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG_DATA',
    );
  });
});

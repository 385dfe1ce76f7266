import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configIssues } from './testing/config-issues.ts';
import { validateCluster } from './cluster-spec.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';

const withAutoscale = (autoscale: unknown, count = 2) => ({ name: 'demo', pools: { worker: { count, autoscale } } });

test('autoscale: off unless set; defaults filled; carried in user data', () => {
  assert.equal(validateCluster({ name: 'demo', pools: { worker: { count: 2 } } }).pools.worker!.autoscale, undefined);
  const spec = validateCluster(withAutoscale({ min: 1, max: 8, targetInFlightPerReplica: 4 }));
  assert.deepEqual(spec.pools.worker!.autoscale, {
    min: 1,
    max: 8,
    metric: 'inFlight',
    target: 4,
    upscaleDelayMs: 30_000,
    downscaleDelayMs: 300_000,
  });
  const rps = validateCluster(withAutoscale({ min: 1, max: 3, targetRps: 20, upscaleDelay: '5s', downscaleDelay: '1 minute' }));
  assert.deepEqual(rps.pools.worker!.autoscale, {
    min: 1,
    max: 3,
    metric: 'rps',
    target: 20,
    upscaleDelayMs: 5000,
    downscaleDelayMs: 60_000,
  });
  assert.deepEqual(deserializeCluster(serializeCluster(spec)).pools.worker!.autoscale, spec.pools.worker!.autoscale);
});

test('autoscale: min ≤ count ≤ max, one target, durations; each problem names the field and the fix', () => {
  const outside = configIssues(withAutoscale({ min: 3, max: 8, targetInFlightPerReplica: 4 }, 2));
  assert.ok(
    outside.some((i) => i.path === 'pools.worker.count' && /outside autoscale's 3\.\.8/.test(i.message) && /between 3 and 8/.test(i.hint)),
    JSON.stringify(outside),
  );
  const inverted = configIssues(withAutoscale({ min: 5, max: 2, targetInFlightPerReplica: 4 }));
  assert.ok(
    inverted.some((i) => i.path === 'pools.worker.autoscale.min' && /more than max/.test(i.message)),
    JSON.stringify(inverted),
  );
  const none = configIssues(withAutoscale({ min: 1, max: 4 }));
  assert.ok(
    none.some((i) => i.path === 'pools.worker.autoscale' && /no target/.test(i.message) && /targetInFlightPerReplica/.test(i.hint)),
    JSON.stringify(none),
  );
  const both = configIssues(withAutoscale({ min: 1, max: 4, targetRps: 1, targetInFlightPerReplica: 2 }));
  assert.ok(
    both.some((i) => i.path === 'pools.worker.autoscale.targetRps' && /one target/.test(i.message)),
    JSON.stringify(both),
  );
  const badDelay = configIssues(withAutoscale({ min: 1, max: 4, targetRps: 1, upscaleDelay: 'soon' }));
  assert.ok(
    badDelay.some((i) => i.path === 'pools.worker.autoscale.upscaleDelay' && /not a duration/.test(i.message) && /30 seconds/.test(i.hint)),
    JSON.stringify(badDelay),
  );
  const typo = configIssues(withAutoscale({ min: 1, max: 4, targetRps: 1, downscaleDelai: '1m' }));
  assert.ok(
    typo.some((i) => i.path === 'pools.worker.autoscale.downscaleDelai' && i.hint === 'did you mean "downscaleDelay"?'),
    JSON.stringify(typo),
  );
  // No scale from 0: a pool with no replica has no router of its own to see the load it would grow on.
  const fromZero = configIssues(withAutoscale({ min: 0, max: 4, targetRps: 5 }, 1));
  assert.ok(
    fromZero.some(
      (i) =>
        i.path === 'pools.worker.autoscale.min' &&
        /at least 1/.test(i.message) &&
        /never grow back/.test(i.message) &&
        /min: 1/.test(i.hint),
    ),
    JSON.stringify(fromZero),
  );
  const zeroTarget = configIssues(withAutoscale({ min: 1, max: 4, targetInFlightPerReplica: 0 }));
  assert.ok(
    zeroTarget.some((i) => i.path === 'pools.worker.autoscale.targetInFlightPerReplica'),
    JSON.stringify(zeroTarget),
  );
});

test('autoscale in user data is validated again on arrival', () => {
  const spec = validateCluster(withAutoscale({ min: 1, max: 8, targetInFlightPerReplica: 4 }));
  const tampered = JSON.parse(serializeCluster(spec)) as { spec: { pools: { worker: { autoscale: { min: number } } } } };
  tampered.spec.pools.worker.autoscale.min = 9;
  assert.throws(() => deserializeCluster(JSON.stringify(tampered)), /pools\.worker\.autoscale/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configIssues } from './testing/config-issues.ts';
import { validateCluster } from './cluster-spec.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';

const withHedge = (spotHedge: unknown) => ({ name: 'demo', pools: { worker: { count: 2, spotHedge } } });

test('spotHedge: absent unless set; only the given fields, the delay in ms; carried in user data', () => {
  assert.equal(validateCluster({ name: 'demo', pools: { worker: { count: 2 } } }).pools.worker!.spotHedge, undefined);
  const spec = validateCluster(withHedge({ availabilityObjective: 0.995, launchDelay: '10 minutes', priceRatio: 0.45 }));
  assert.deepEqual(spec.pools.worker!.spotHedge, { availabilityObjective: 0.995, launchDelayMs: 600_000, priceRatio: 0.45 });
  assert.deepEqual(validateCluster(withHedge({ enabled: false })).pools.worker!.spotHedge, { enabled: false });
  assert.deepEqual(deserializeCluster(serializeCluster(spec)).pools.worker!.spotHedge, spec.pools.worker!.spotHedge);
});

test('spotHedge: each bad field is named with the fix', () => {
  const ratio = configIssues(withHedge({ priceRatio: 1 }));
  assert.ok(
    ratio.some(
      (i) => i.path === 'pools.worker.spotHedge.priceRatio' && /less than 1/.test(i.message) && /spot price \/ on-demand/.test(i.hint),
    ),
    JSON.stringify(ratio),
  );
  const objective = configIssues(withHedge({ availabilityObjective: 99 }));
  assert.ok(
    objective.some(
      (i) => i.path === 'pools.worker.spotHedge.availabilityObjective' && /at most 0.99999/.test(i.message) && /0\.99/.test(i.hint),
    ),
    JSON.stringify(objective),
  );
  const delay = configIssues(withHedge({ launchDelay: 'slow' }));
  assert.ok(
    delay.some((i) => i.path === 'pools.worker.spotHedge.launchDelay' && /not a duration/.test(i.message)),
    JSON.stringify(delay),
  );
  const zero = configIssues(withHedge({ launchDelay: 0 }));
  assert.ok(
    zero.some(
      (i) => i.path === 'pools.worker.spotHedge.launchDelay' && /between 1 second and 1 day/.test(i.message) && /183s/.test(i.hint),
    ),
    JSON.stringify(zero),
  );
  const typo = configIssues(withHedge({ priceRatoi: 0.3 }));
  assert.ok(
    typo.some((i) => i.path === 'pools.worker.spotHedge.priceRatoi' && i.hint === 'did you mean "priceRatio"?'),
    JSON.stringify(typo),
  );
});

/**
 * A world with limits: capacity caps per zone, short on-demand capacity, spot prices per
 * zone over time (describe-spot-price-history), launch delay as a distribution.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { isSynktiError } from '@synkti/core';
import { drawLaunchDelay, parseLaunchDelay, MAX_LAUNCH_DELAY_MS } from './launch-delay.ts';
import { loadSpotPriceHistory, parseSpotPriceHistory, spotCostUsd } from './spot-price-history.ts';
import { createRandom } from './random.ts';
import { simulate } from './simulate.ts';
import { onDemandPolicy, synktiPolicy } from './policies/index.ts';
import { loadPriceTable } from './price-table.ts';
import type { TraceSet, ZoneTrace } from './trace-loader.ts';

const SAMPLE = fileURLToPath(new URL('../data/spot-prices-p3.2xlarge-sample.json', import.meta.url));
const GAP = 195_000;

function traces(values: Record<string, number[]>): TraceSet {
  const zones: ZoneTrace[] = Object.entries(values).map(([zone, v]) => ({
    zone,
    file: `${zone}.json`,
    kind: 'availability',
    gapMs: GAP,
    values: v,
  }));
  return { dir: 'test', kind: 'availability', gapMs: GAP, zones, durationMs: Math.min(...zones.map((z) => z.values.length)) * GAP };
}

test('launch delay: fixed, lognormal and uniform parse, draw within bounds, and bad input names the flag and the fix', () => {
  assert.deepEqual(parseLaunchDelay('183s'), { kind: 'fixed', ms: 183_000 });
  assert.deepEqual(parseLaunchDelay('uniform:60s-600s'), { kind: 'uniform', minMs: 60_000, maxMs: 600_000 });
  const lognormal = parseLaunchDelay('lognormal:183s,0.5');
  assert.deepEqual(lognormal, { kind: 'lognormal', medianMs: 183_000, sigma: 0.5 });
  const random = createRandom(7);
  const draws = Array.from({ length: 2001 }, () => drawLaunchDelay(lognormal, random)).sort((a, b) => a - b);
  const median = draws[1000]!;
  assert.ok(median > 165_000 && median < 200_000, `median ${median}`);
  assert.ok(draws[0]! > 0 && draws.at(-1)! <= MAX_LAUNCH_DELAY_MS);
  assert.ok(draws.at(-1)! > 2 * 183_000, 'a tail: some launches take more than twice the median');
  for (let i = 0; i < 200; i++) {
    const d = drawLaunchDelay({ kind: 'uniform', minMs: 60_000, maxMs: 600_000 }, random);
    assert.ok(d >= 60_000 && d <= 600_000);
  }
  for (const bad of ['soon', 'lognormal:183s', 'lognormal:183s,9', 'uniform:600s-60s', 'uniform:1s', '7h']) {
    assert.throws(
      () => parseLaunchDelay(bad),
      (e: unknown) =>
        isSynktiError(e, 'E_SIM_LAUNCH_DELAY') && e.message.includes('--launch-delay') && /lognormal:183s,0\.5/.test(e.hint ?? ''),
      bad,
    );
  }
});

test('spot price history: the shipped sample parses in describe-spot-price-history form; cost integrates each price over its span; bad rows are named', async () => {
  const history = await loadSpotPriceHistory(SAMPLE);
  assert.equal(history.instanceType, 'p3.2xlarge');
  assert.deepEqual([...history.zones.keys()].sort(), ['us-east-1a', 'us-east-1c', 'us-east-1d', 'us-east-2a', 'us-west-2a', 'us-west-2b']);
  const two = parseSpotPriceHistory(
    JSON.stringify({
      SpotPriceHistory: [
        {
          AvailabilityZone: 'z',
          InstanceType: 't',
          ProductDescription: 'Linux/UNIX',
          SpotPrice: '2.000000',
          Timestamp: '2023-01-01T01:00:00+00:00',
        },
        {
          AvailabilityZone: 'z',
          InstanceType: 't',
          ProductDescription: 'Linux/UNIX',
          SpotPrice: '1.000000',
          Timestamp: '2023-01-01T00:00:00+00:00',
        },
      ],
    }),
    'two.json',
  );
  // 30 min at $1 then 30 min at $2; before the first row its price holds.
  assert.equal(spotCostUsd(two, 'z', 1_800_000, 5_400_000), 1.5);
  assert.equal(spotCostUsd(two, 'z', -3_600_000, 0), 1);
  assert.equal(spotCostUsd(two, 'elsewhere', 0, 1), undefined);
  const bad = (rows: unknown): void =>
    assert.throws(
      () => parseSpotPriceHistory(JSON.stringify({ SpotPriceHistory: rows }), 'bad.json'),
      (e: unknown) => isSynktiError(e, 'E_SIM_SPOT_PRICES') && e.message.startsWith('bad.json'),
    );
  bad([{ AvailabilityZone: 'z', SpotPrice: 'free', Timestamp: '2023-01-01T00:00:00Z' }]);
  bad([{ AvailabilityZone: 'z', SpotPrice: '1.0', Timestamp: 'yesterday' }]);
  bad([]);
  bad([
    { AvailabilityZone: 'z', InstanceType: 'a', SpotPrice: '1', Timestamp: '2023-01-01T00:00:00Z' },
    { AvailabilityZone: 'z', InstanceType: 'b', SpotPrice: '1', Timestamp: '2023-01-01T00:00:00Z' },
  ]);
});

test("a run bills spot at the history's prices: a constant history equal to the table costs the same, double the price doubles the spot part", async () => {
  const prices = await loadPriceTable();
  const set = traces({ a: Array(400).fill(1), b: Array(400).fill(1) });
  const history = (price: number) =>
    parseSpotPriceHistory(
      JSON.stringify({
        SpotPriceHistory: ['a', 'b'].map((zone) => ({
          AvailabilityZone: zone,
          InstanceType: 'p3.2xlarge',
          SpotPrice: price.toFixed(6),
          Timestamp: '2023-02-15T00:00:00+00:00',
        })),
      }),
      'h.json',
    );
  const run = (spotPrices?: ReturnType<typeof history>) =>
    simulate({ traces: set, prices, policy: synktiPolicy(), target: 2, workload: { kind: 'serve', requestsPerSecond: 0 }, spotPrices });
  const plain = run();
  assert.ok(Math.abs(run(history(prices.spotUsdPerHour)).costUsd - plain.costUsd) < 1e-6);
  assert.ok(Math.abs(run(history(2 * prices.spotUsdPerHour)).costUsd - 2 * plain.costUsd) < 1e-6, 'all spot here: the whole cost doubles');
  assert.throws(
    () => simulate({ traces: traces({ c: [1, 1] }), prices, policy: synktiPolicy(), target: 1, spotPrices: history(1) }),
    (e: unknown) => isSynktiError(e, 'E_SIM_SPOT_PRICES') && e.message.includes('no price for c'),
  );
});

test('limits: a capacity cap holds at most that many spot per zone; short on-demand launches no more than it allows; launch delays vary per instance', async () => {
  const prices = await loadPriceTable();
  // Zone a flickers, b steady: 3 replicas, at most 1 spot per zone, so on-demand fills in.
  const set = traces({ a: Array.from({ length: 600 }, (_, i) => (Math.floor(i / 40) % 2 === 0 ? 1 : 0)), b: Array(600).fill(1) });
  const capped = simulate({
    traces: set,
    prices,
    policy: synktiPolicy(),
    target: 3,
    zoneCapacity: 1,
    workload: { kind: 'serve', requestsPerSecond: 0 },
    launchDelay: { kind: 'uniform', minMs: 60_000, maxMs: 600_000 },
  });
  for (const zone of ['a', 'b']) {
    const spans = capped.instances.filter((i) => i.zone === zone && i.lifecycle === 'spot');
    for (const s of spans) {
      const until = (i: typeof s): number => i.noticeAt ?? i.terminatedAt ?? capped.durationMs;
      const overlapping = spans.filter((o) => o.requestedAt <= s.requestedAt && until(o) > s.requestedAt);
      assert.ok(overlapping.length <= 1, `zone ${zone} at ${s.requestedAt}: ${overlapping.length} spot held`);
    }
  }
  assert.ok(capped.onDemandHours > 0, 'the third replica runs on-demand');
  const delays = capped.instances.filter((i) => i.readyAt !== undefined).map((i) => i.readyAt! - i.requestedAt);
  assert.ok(delays.every((d) => d >= 60_000 && d <= 600_000) && new Set(delays).size > 1, 'drawn per instance within 60-600 s');
  const short = simulate({
    traces: set,
    prices,
    policy: onDemandPolicy(),
    target: 4,
    onDemandCapacity: 2,
    workload: { kind: 'serve', requestsPerSecond: 0 },
  });
  assert.equal(short.maxHeld, 2);
  assert.equal(short.availability, 0);
  assert.ok(short.launchFailures >= 2);
  assert.throws(
    () => simulate({ traces: set, prices, policy: onDemandPolicy(), target: 1, onDemandCapacity: -1 }),
    (e: unknown) => isSynktiError(e, 'E_SIM_CAPACITY') && e.message.includes('onDemandCapacity'),
  );
});

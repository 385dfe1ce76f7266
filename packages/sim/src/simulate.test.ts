import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { PriceTable } from './price-table.ts';
import { loadPriceTable } from './price-table.ts';
import type { Policy } from './policy.ts';
import { runPaired, POLICY_NAMES } from './paired-runs.ts';
import { simulate, SPOT_NOTICE_MS } from './simulate.ts';
import { synktiPolicy, spotSingleZonePolicy } from './policies/index.ts';
import { loadTraceDir, type TraceSet } from './trace-loader.ts';

const PRICES: PriceTable = { instanceType: 't', onDemandUsdPerHour: 3.6, spotUsdPerHour: 1.8, zones: {}, sources: {} };
const MIN = 60_000;

/** A trace set built in memory: one value per 10-minute tick per zone. */
function traces(zones: Record<string, number[]>, gapMs = 10 * MIN): TraceSet {
  const list = Object.entries(zones).map(([zone, values]) => ({
    zone,
    file: `${zone}.json`,
    kind: 'availability' as const,
    gapMs,
    values,
  }));
  return { dir: 'memory', kind: 'availability', gapMs, zones: list, durationMs: Math.min(...list.map((z) => z.values.length)) * gapMs };
}

describe('simulate: honest accounting', () => {
  it('bills a preempted instance per second from launch request to termination, work finished or not', () => {
    // Capacity for 20 minutes, then none: the instance gets its notice at 20:00 and dies at 22:00.
    const result = simulate({
      traces: traces({ a: [1, 1, 0, 0, 0, 0] }),
      prices: PRICES,
      policy: spotSingleZonePolicy(),
      target: 1,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    const first = result.instances[0]!;
    assert.equal(first.requestedAt, 0);
    assert.equal(first.noticeAt, 20 * MIN);
    assert.equal(first.terminatedAt, 20 * MIN + SPOT_NOTICE_MS);
    assert.equal(first.endReason, 'preempted');
    assert.equal(first.costUsd, (22 * 60 * 1.8) / 3600);
    assert.equal(result.preemptions, 1);
    // Relaunches fail (no capacity) and cost nothing; the run's whole cost is that one instance.
    assert.equal(result.instances.length, 1);
    assert.ok(result.launchFailures > 0);
    assert.equal(result.costUsd, first.costUsd);
    // Ready from 183 s until termination at 22:00, out of 60 minutes.
    assert.ok(Math.abs(result.availability - (22 * 60 - 183) / 3600) < 1e-9);
  });

  it('bills an instance that never became ready and counts its launch as wasted', () => {
    const result = simulate({
      traces: traces({ a: [1, 0, 0] }, 60_000),
      prices: PRICES,
      policy: spotSingleZonePolicy(),
      target: 1,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    const first = result.instances[0]!;
    assert.equal(first.readyAt, undefined);
    assert.equal(first.terminatedAt, 60_000 + SPOT_NOTICE_MS);
    assert.equal(result.costUsd, (180 * 1.8) / 3600);
    assert.equal(result.wastedLaunchHours, 180 / 3600);
    assert.equal(result.availability, 0);
  });

  it('bills at least 60 s, and instances alive at the end up to the end', () => {
    const result = simulate({
      traces: traces({ a: [1, 1, 1] }),
      prices: PRICES,
      policy: spotSingleZonePolicy(),
      target: 2,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    assert.equal(result.instances.length, 2);
    for (const instance of result.instances) assert.equal(instance.endReason, 'horizon');
    assert.equal(result.costUsd, 2 * 0.5 * 1.8);
  });

  it('counts requests that fail: none ready, routed to a dead replica, cut off in flight', () => {
    const result = simulate({
      traces: traces({ a: [1, 1, 1, 0, 0, 0, 1, 1, 1, 1] }),
      prices: PRICES,
      policy: spotSingleZonePolicy(),
      target: 1,
      seed: 3,
      workload: { kind: 'serve', requestsPerSecond: 2 },
    });
    assert.ok(result.requests > 10_000);
    assert.ok(result.failedBy.noReplica > 0 && result.failedBy.deadReplica > 0);
    assert.equal(
      result.failedRequests,
      result.failedBy.noReplica + result.failedBy.deadReplica + result.failedBy.cutInFlight + result.failedBy.overload,
    );
    // No replica for the first 183 s and from 32:00 (termination) until about 64:00
    // (capacity back at 60:00, relaunch, 183 s): about 35 of 100 minutes.
    assert.ok(result.failedRequestFraction > 0.3 && result.failedRequestFraction < 0.7, String(result.failedRequestFraction));
  });
});

describe('simulate: determinism and paired runs', () => {
  const set = traces({
    a: [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1],
    b: [0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1],
    c: [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1],
  });

  it('the same seed gives identical results; another seed gives other arrivals', () => {
    const run = (seed: number) =>
      simulate({
        traces: set,
        prices: PRICES,
        policy: synktiPolicy(),
        target: 2,
        seed,
        workload: { kind: 'serve', requestsPerSecond: 1, arrivals: 'bursty' },
      });
    assert.deepEqual(run(9), run(9));
    assert.notEqual(run(9).requests, run(10).requests);
  });

  it('paired runs see identical traces and identical request streams', () => {
    const results = runPaired({
      traces: set,
      prices: PRICES,
      target: 2,
      seed: 5,
      policies: POLICY_NAMES,
      workload: { kind: 'serve', requestsPerSecond: 0.5 },
    });
    assert.deepEqual(
      results.map((r) => r.policy),
      [...POLICY_NAMES],
    );
    for (const r of results) {
      assert.deepEqual(r.capacityEvents, results[0]!.capacityEvents);
      assert.equal(r.requests, results[0]!.requests);
      assert.equal(r.seed, 5);
    }
    assert.equal(results.find((r) => r.policy === 'on-demand')!.costVsOnDemand, 1);
    assert.deepEqual(Object.values(results[0]!.capacityEvents), [4, 5, 2]);
  });
});

describe('simulate: policies', () => {
  it('synkti launches the replacement at the notice, and a rebalance then a notice launch one, not two', () => {
    const set = traces({ a: [1, 1, 0, 0, 0, 0], b: [1, 1, 1, 1, 1, 1] });
    const atNotice = simulate({
      traces: set,
      prices: PRICES,
      policy: synktiPolicy(),
      target: 2,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    const preempted = atNotice.instances.filter((i) => i.endReason === 'preempted');
    assert.equal(preempted.length, 1);
    const replacement = atNotice.instances.find((i) => i.requestedAt === preempted[0]!.noticeAt);
    assert.ok(replacement, 'a replacement is requested at the notice');
    assert.equal(replacement.zone, 'b');
    assert.equal(atNotice.replacements, 1);
    const early = simulate({
      traces: set,
      prices: PRICES,
      policy: synktiPolicy(),
      target: 2,
      rebalanceLeadMs: 5 * MIN,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    assert.equal(early.replacements, 1);
    assert.equal(early.instances.find((i) => i.zone === 'b' && i.requestedAt > 0)!.requestedAt, 15 * MIN);
    assert.ok(early.availability > atNotice.availability);
  });

  it('synkti: with every replica drained at once, routing to draining replicas as a last resort saves the requests of the notice window', () => {
    // Only zone a has capacity; both replicas get their notice at 20:00, the on-demand
    // fallbacks are ready at 20:00 + 183 s; the drained ones live until 22:00.
    const set = traces({ a: [1, 1, 0, 0, 0, 0], b: [0, 0, 0, 0, 0, 0] });
    const run = (lastResortDraining: boolean) =>
      simulate({
        traces: set,
        prices: PRICES,
        policy: synktiPolicy({ lastResortDraining }),
        target: 2,
        seed: 4,
        workload: { kind: 'serve', requestsPerSecond: 2, meanServiceMs: 1000 },
      });
    const cut = run(false);
    const lastResort = run(true);
    assert.equal(cut.instances.filter((i) => i.lifecycle === 'on-demand').length, 2);
    // Without: nothing routable for 183 s at the start and 183 s after the notice.
    assert.ok(cut.failedBy.noReplica > 600, String(cut.failedBy.noReplica));
    // The 120 s of the notice window at 2 requests/s: about 240 requests saved.
    const saved = cut.failedBy.noReplica - lastResort.failedBy.noReplica;
    assert.ok(saved > 150 && saved < 350, `saved ${saved}`);
    assert.equal(lastResort.availability, cut.availability);
  });

  it('a policy that launches in an unknown zone is a clear error', () => {
    const bad: Policy = {
      name: 'bad',
      watchesNotices: false,
      detectionDelayMs: 0,
      start: (ctx) => void ctx.launch({ lifecycle: 'spot', zone: 'nowhere' }),
    };
    assert.throws(() => simulate({ traces: traces({ a: [1] }), prices: PRICES, policy: bad, target: 1 }), { code: 'E_SIM_ZONE' });
  });

  it('batch: tasks progress, preemption loses the task in flight, the deadline policy meets its deadline', () => {
    const set = traces({ a: [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] });
    const workload = { kind: 'batch' as const, tasks: 12, taskMs: 15 * MIN, deadlineMs: 3 * 60 * MIN };
    const [spot, deadline] = runPaired({ traces: set, prices: PRICES, target: 2, policies: ['spot-single-zone', 'deadline'], workload });
    assert.ok(spot!.lostWorkHours > 0);
    assert.equal(deadline!.deadlineMet, true);
    assert.ok(deadline!.jobDoneAtMs! <= workload.deadlineMs);
    assert.ok(deadline!.onDemandHours > 0);
  });
});

describe('the shipped 6-zone V100 trace, 45 days, 4 replicas', () => {
  it("synkti's availability is at least 99% and it costs less than on-demand", async () => {
    const set = await loadTraceDir(fileURLToPath(new URL('../data/availability-aws-v100-2023-02', import.meta.url)));
    const prices = await loadPriceTable();
    const [onDemand, synkti] = runPaired({
      traces: set,
      prices,
      target: 4,
      seed: 1,
      policies: ['on-demand', 'synkti'],
      workload: { kind: 'serve', requestsPerSecond: 0.1 },
    });
    assert.ok(synkti!.availability >= 0.99, `availability ${synkti!.availability}`);
    assert.ok(synkti!.preemptions > 100, 'the trace does preempt');
    assert.ok(synkti!.costVsOnDemand! < 0.5, `cost vs on-demand ${synkti!.costVsOnDemand}`);
    assert.ok(onDemand!.costUsd > 13_000);
  });
});

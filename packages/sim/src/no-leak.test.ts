import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadPriceTable, type PriceTable } from './price-table.ts';
import { runPaired, type PairedResult } from './paired-runs.ts';
import { SPOT_NOTICE_MS } from './simulate.ts';
import { createRandom } from './random.ts';
import { loadTraceDir, selectZones, sliceTraces, type TraceSet } from './trace-loader.ts';

const MIN = 60_000;
const PRICES: PriceTable = { instanceType: 't', onDemandUsdPerHour: 3.06, spotUsdPerHour: 0.918, zones: {}, sources: {} };
const SHIPPED = fileURLToPath(new URL('../data/availability-aws-v100-2023-02', import.meta.url));
/** Grace between an on-demand node's hand-over (drain) and its termination (synkti-policy.ts). */
const HANDOVER_GRACE_MS = 60_000;

/**
 * The surge bound, per replica: one serving (or the on-demand node handing over), one
 * launching, one in its 2-minute notice, one in its hand-over grace. Trace ticks (≥ 195 s)
 * are longer than a notice, so a replica never has two instances in their notice at once.
 */
const SURGE_PER_REPLICA = 3;
/**
 * Cost allowance over on-demand in 1–4-day windows (whole-trace runs get none). 1,000
 * windows (SYNKTI_SIM_FULL=1), measured 2026-12-07: with the hand-back rule (a successor
 * lost before its hand-over launches nothing while its on-demand predecessor serves),
 * 3 above on-demand, worst 1.0055x (before it: 5, worst 1.0173x: the lost successor's
 * replacement came up on-demand beside the on-demand node, 15 minutes of two on-demand
 * instances). What is left: a move to spot whose successor is reclaimed minutes after it
 * took over bills its boot, the hand-over grace and its notice beside the on-demand
 * replacement, ≈ r × (launch delay + 3 min) per replica, which its few minutes of spot
 * did not pay back; the hedge then holds the pool on-demand for 12 h. Not ≤ 1.0 by construction.
 */
const WINDOW_COST_SLACK = 1.01;

function traces(zones: Record<string, number[]>, gapMs = 10 * MIN): TraceSet {
  const list = Object.entries(zones).map(([zone, values]) => ({ zone, file: `${zone}.json`, kind: 'availability' as const, gapMs, values }));
  return { dir: 'memory', kind: 'availability', gapMs, zones: list, durationMs: Math.min(...list.map((z) => z.values.length)) * gapMs };
}

/** The invariants a user's bill relies on, checked on one paired run's synkti result. */
function assertNoLeak(r: PairedResult, onDemand: PairedResult, target: number, launchDelayMs: number, what: string, costSlack = 1): void {
  assert.ok(r.costUsd <= onDemand.costUsd * costSlack, `${what}: synkti cost ${r.costUsd.toFixed(2)} > on-demand ${onDemand.costUsd.toFixed(2)} × ${costSlack}`);
  assert.ok(r.maxHeld <= target * (1 + SURGE_PER_REPLICA), `${what}: held ${r.maxHeld} instances for a target of ${target}`);
  for (const i of r.instances) {
    const end = i.terminatedAt ?? r.durationMs;
    // Launched → serving within the launch delay, or ended (preempted while booting).
    if (i.readyAt === undefined) assert.ok(end - i.requestedAt <= launchDelayMs, `${what}: ${i.id} neither ready nor ended ${launchDelayMs} ms after its launch`);
    // Draining → terminated within the notice (or the shorter hand-over grace).
    if (i.drainedAt !== undefined && i.terminatedAt !== undefined) assert.ok(i.terminatedAt - i.drainedAt <= SPOT_NOTICE_MS, `${what}: ${i.id} drained for ${i.terminatedAt - i.drainedAt} ms`);
    if (i.drainedAt !== undefined && i.terminatedAt === undefined) assert.ok(r.durationMs - i.drainedAt <= SPOT_NOTICE_MS, `${what}: ${i.id} still draining at the end`);
  }
}

describe('synkti never leaks an instance', () => {
  it('a spot successor preempted before the hand-over hands the duty back: the on-demand node launches the next successor, which takes over', () => {
    // No spot at first (the replica starts on-demand); zone a opens at 10:00 and is
    // reclaimed at 20:00, before the successor (15 min to boot) is ready; zone b opens at 20:00.
    const set = traces({ a: [0, 1, 0, 0, 0, 0, 0, 0, 0], b: [0, 0, 1, 1, 1, 1, 1, 1, 1] });
    const launchDelayMs = 15 * MIN;
    const [onDemand, synkti] = runPaired({ traces: set, prices: PRICES, target: 1, launchDelayMs, policies: ['on-demand', 'synkti'], workload: { kind: 'serve', requestsPerSecond: 0 } });
    const od = synkti!.instances.find((i) => i.lifecycle === 'on-demand')!;
    const successor = synkti!.instances.find((i) => i.replaces === od.id && i.zone === 'a')!;
    assert.equal(successor.endReason, 'preempted');
    assert.equal(successor.readyAt, undefined, 'preempted before it served');
    // Nothing launched at the notice (an on-demand replacement beside the on-demand node
    // bought nothing); once the successor is gone (its 2-minute notice), the node's next
    // back-to-spot check (one a minute) launches in zone b.
    assert.ok(!synkti!.instances.some((i) => i.requestedAt === successor.noticeAt), 'no launch at the successor\'s notice');
    const second = synkti!.instances.find((i) => i.requestedAt > successor.noticeAt! && i.replaces === od.id)!;
    assert.ok(second.requestedAt - successor.noticeAt! <= SPOT_NOTICE_MS + 60_000, `the next successor ${second.requestedAt - successor.noticeAt!} ms after the notice`);
    assert.equal(second.lifecycle, 'spot');
    assert.equal(second.zone, 'b');
    assert.equal(od.endReason, 'policy', 'the on-demand node is handed over and terminated');
    assert.equal(od.terminatedAt, second.readyAt! + HANDOVER_GRACE_MS);
    assert.equal(synkti!.instances.filter((i) => i.endReason === 'horizon').length, 1, 'one instance at the end, for a target of 1');
    assertNoLeak(synkti!, onDemand!, 1, launchDelayMs, 'successor preempted');
  });

  it('the shipped 6-zone trace with a 600 s launch delay: below on-demand, held within the bound (was 580 %, 32 held)', async () => {
    const set = await loadTraceDir(SHIPPED);
    const prices = await loadPriceTable();
    const launchDelayMs = 600_000;
    const [onDemand, synkti] = runPaired({ traces: set, prices, target: 4, launchDelayMs, policies: ['on-demand', 'synkti'], workload: { kind: 'serve', requestsPerSecond: 0 } });
    assertNoLeak(synkti!, onDemand!, 4, launchDelayMs, '600 s');
    assert.ok(synkti!.costVsOnDemand! < 0.5, `cost vs on-demand ${synkti!.costVsOnDemand}`);
    // The spot hedge holds fallbacks on-demand while serving losses exceed the budget (at a
    // 600 s launch, any one in 12 h): 585 h measured, 39.5 % of on-demand (no leak: 4,352 h).
    assert.ok(synkti!.onDemandHours < 1000, `on-demand hours ${synkti!.onDemandHours}`);
  });

  it('a 4-zone subset of the shipped trace, 183 s and 600 s: below on-demand, held within the bound (was 2,189 %, 163 held at 600 s)', async () => {
    const set = selectZones(await loadTraceDir(SHIPPED), ['us-east-1a', 'us-east-1c', 'us-east-1d', 'us-east-2a']);
    const prices = await loadPriceTable();
    for (const launchDelayMs of [183_000, 600_000]) {
      const [onDemand, synkti] = runPaired({ traces: set, prices, target: 4, launchDelayMs, policies: ['on-demand', 'synkti'], workload: { kind: 'serve', requestsPerSecond: 0 } });
      assertNoLeak(synkti!, onDemand!, 4, launchDelayMs, `4 zones, ${launchDelayMs} ms`);
      // Measured with the spot hedge: 53.8 % at 183 s, 65.2 % at 600 s (the leak was 2,189 %).
      assert.ok(synkti!.costVsOnDemand! < 0.75, `cost vs on-demand ${synkti!.costVsOnDemand}`);
    }
  });

  it('property: random windows, zone subsets, targets, launch delays and seeds never leak', async (t) => {
    let worst = 0;
    const full = await loadTraceDir(SHIPPED);
    const prices = await loadPriceTable();
    const random = createRandom(16);
    const zones = full.zones.map((z) => z.zone);
    const started = Date.now();
    let runs = 0;
    // Bounded in count and in time (a loaded CI machine): at least 20 runs, at most 150 or 6 s;
    // SYNKTI_SIM_FULL=1: 1,000 runs, no time bound.
    const full1000 = process.env.SYNKTI_SIM_FULL === '1';
    let above = 0;
    while (runs < (full1000 ? 1000 : 150) && (full1000 || runs < 20 || Date.now() - started < 6000)) {
      const subset = zones.filter(() => random.next() < 0.6);
      if (subset.length === 0) continue;
      const days = 1 + Math.floor(random.next() * 4);
      const from = Math.floor(random.next() * (full.durationMs - days * 86_400_000));
      const set = sliceTraces(selectZones(full, subset), from, days * 86_400_000);
      const target = 1 + Math.floor(random.next() * 6);
      const launchDelayMs = Math.round(60_000 + random.next() * 900_000);
      const seed = Math.floor(random.next() * 1e6);
      const what = `zones ${subset.join(',')}, from ${from} ms, ${days} days, target ${target}, launch ${launchDelayMs} ms, seed ${seed}`;
      const [onDemand, synkti] = runPaired({ traces: set, prices, target, launchDelayMs, seed, policies: ['on-demand', 'synkti'], workload: { kind: 'serve', requestsPerSecond: 0 } });
      // A short window of a flickering zone can cost a little more than on-demand: each move
      // to spot whose successor is lost while booting bills that boot (WINDOW_COST_SLACK).
      assertNoLeak(synkti!, onDemand!, target, launchDelayMs, what, WINDOW_COST_SLACK);
      worst = Math.max(worst, synkti!.costVsOnDemand!);
      if (synkti!.costVsOnDemand! > 1) above++;
      runs++;
    }
    assert.ok(runs >= 20);
    t.diagnostic(`${runs} runs in ${Date.now() - started} ms; worst cost vs on-demand ${worst.toFixed(4)}; ${above} above on-demand`);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadPriceTable, type PriceTable } from './price-table.ts';
import { runPaired, type PairedResult } from './paired-runs.ts';
import { MIN_BILLED_SECONDS, SPOT_NOTICE_MS } from './simulate.ts';
import { DEFAULT_ON_DEMAND_CREDIT_RATE, moveCostMs } from '@synkti/agent';
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
 * The bound the slot ledger (the agent's spot-ledger.ts) gives by construction: each slot
 * starts with one move's credit and spends only credit it has, so the pool's bill is at most
 * on-demand's plus, per replica, one move's worst case (r × launch delay + hand-over + r ×
 * notice) and a minute, and 1 % of its on-demand hours' bill (the credit an on-demand holder
 * earns so that a slot that lost its credit tries spot again): AWS's 60 s minimum bills an instance launched in a window's last
 * minute for time after the window. On a full trace set this is ≤ 0.01 % of on-demand; on a
 * one-day window at a 960 s launch delay, ~0.6 %.
 */
function ledgerAllowanceUsd(target: number, launchDelayMs: number, prices: PriceTable, synkti: PairedResult): number {
  const ratio = prices.spotUsdPerHour / prices.onDemandUsdPerHour;
  const perReplicaMs = moveCostMs({ launchDelayMs, priceRatio: ratio, handOverMs: HANDOVER_GRACE_MS }) + MIN_BILLED_SECONDS * 1000;
  // An on-demand holder earns 1 % of its bill as credit (DEFAULT_ON_DEMAND_CREDIT_RATE).
  return (
    ((target * perReplicaMs) / 3_600_000) * prices.onDemandUsdPerHour +
    DEFAULT_ON_DEMAND_CREDIT_RATE * synkti.onDemandHours * prices.onDemandUsdPerHour
  );
}

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

/** The invariants a user's bill relies on, checked on one paired run's synkti result. */
function assertNoLeak(
  r: PairedResult,
  onDemand: PairedResult,
  target: number,
  launchDelayMs: number,
  what: string,
  allowanceUsd = 0,
): void {
  assert.ok(
    r.costUsd <= onDemand.costUsd + allowanceUsd,
    `${what}: synkti cost ${r.costUsd.toFixed(2)} > on-demand ${onDemand.costUsd.toFixed(2)} + ${allowanceUsd.toFixed(2)}`,
  );
  assert.ok(r.maxHeld <= target * (1 + SURGE_PER_REPLICA), `${what}: held ${r.maxHeld} instances for a target of ${target}`);
  for (const i of r.instances) {
    const end = i.terminatedAt ?? r.durationMs;
    // Launched → serving within the launch delay, or ended (preempted while booting).
    if (i.readyAt === undefined)
      assert.ok(end - i.requestedAt <= launchDelayMs, `${what}: ${i.id} neither ready nor ended ${launchDelayMs} ms after its launch`);
    // Draining → terminated within the notice (or the shorter hand-over grace).
    if (i.drainedAt !== undefined && i.terminatedAt !== undefined)
      assert.ok(i.terminatedAt - i.drainedAt <= SPOT_NOTICE_MS, `${what}: ${i.id} drained for ${i.terminatedAt - i.drainedAt} ms`);
    if (i.drainedAt !== undefined && i.terminatedAt === undefined)
      assert.ok(r.durationMs - i.drainedAt <= SPOT_NOTICE_MS, `${what}: ${i.id} still draining at the end`);
  }
}

describe('synkti never leaks an instance', () => {
  it('a spot successor preempted before the hand-over hands the duty back: the on-demand node keeps serving, no on-demand launched beside it', () => {
    // No spot at first (the replica starts on-demand); zone a opens at 10:00 and is
    // reclaimed at 20:00, before the successor (15 min to boot) is ready; zone b opens at 20:00.
    const set = traces({ a: [0, 1, 0, 0, 0, 0, 0, 0, 0], b: [0, 0, 1, 1, 1, 1, 1, 1, 1] });
    const launchDelayMs = 15 * MIN;
    const [onDemand, synkti] = runPaired({
      traces: set,
      prices: PRICES,
      target: 1,
      launchDelayMs,
      policies: ['on-demand', 'synkti'],
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    const od = synkti!.instances.find((i) => i.lifecycle === 'on-demand')!;
    const successor = synkti!.instances.find((i) => i.replaces === od.id && i.zone === 'a')!;
    assert.equal(successor.endReason, 'preempted');
    assert.equal(successor.readyAt, undefined, 'preempted before it served');
    // Nothing launched at the notice (an on-demand replacement beside the on-demand node
    // bought nothing); the node keeps the duty. Its one move on credit is spent (spot-ledger:
    // a slot that started on-demand saved nothing), so it stays on-demand: no second successor.
    assert.ok(!synkti!.instances.some((i) => i.requestedAt === successor.noticeAt), "no launch at the successor's notice");
    assert.equal(synkti!.instances.filter((i) => i.replaces === od.id).length, 1, 'one move on credit, no second');
    assert.equal(od.endReason, 'horizon', 'the on-demand node serves to the end: never orphaned');
    assert.equal(synkti!.instances.filter((i) => i.endReason === 'horizon').length, 1, 'one instance at the end, for a target of 1');
    assertNoLeak(synkti!, onDemand!, 1, launchDelayMs, 'successor preempted', ledgerAllowanceUsd(1, launchDelayMs, PRICES, synkti!));
  });

  it('the shipped 6-zone trace with a 600 s launch delay: below on-demand, held within the bound (was 580 %, 32 held)', async () => {
    const set = await loadTraceDir(SHIPPED);
    const prices = await loadPriceTable();
    const launchDelayMs = 600_000;
    const [onDemand, synkti] = runPaired({
      traces: set,
      prices,
      target: 4,
      launchDelayMs,
      policies: ['on-demand', 'synkti'],
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    assertNoLeak(synkti!, onDemand!, 4, launchDelayMs, '600 s', ledgerAllowanceUsd(4, launchDelayMs, prices, synkti!));
    assert.ok(synkti!.costVsOnDemand! < 0.5, `cost vs on-demand ${synkti!.costVsOnDemand}`);
    // The spot hedge holds fallbacks on-demand while serving losses exceed the budget (at a
    // 600 s launch, any one in 12 h): 585 h measured, 39.5 % of on-demand (no leak: 4,352 h).
    assert.ok(synkti!.onDemandHours < 1000, `on-demand hours ${synkti!.onDemandHours}`);
  });

  it('a 4-zone subset of the shipped trace, 183 s and 600 s: below on-demand, held within the bound (was 2,189 %, 163 held at 600 s)', async () => {
    const set = selectZones(await loadTraceDir(SHIPPED), ['us-east-1a', 'us-east-1c', 'us-east-1d', 'us-east-2a']);
    const prices = await loadPriceTable();
    for (const launchDelayMs of [183_000, 600_000]) {
      const [onDemand, synkti] = runPaired({
        traces: set,
        prices,
        target: 4,
        launchDelayMs,
        policies: ['on-demand', 'synkti'],
        workload: { kind: 'serve', requestsPerSecond: 0 },
      });
      assertNoLeak(
        synkti!,
        onDemand!,
        4,
        launchDelayMs,
        `4 zones, ${launchDelayMs} ms`,
        ledgerAllowanceUsd(4, launchDelayMs, prices, synkti!),
      );
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
      const [onDemand, synkti] = runPaired({
        traces: set,
        prices,
        target,
        launchDelayMs,
        seed,
        policies: ['on-demand', 'synkti'],
        workload: { kind: 'serve', requestsPerSecond: 0 },
      });
      // Exactly the ledger's bound: on-demand's cost plus one move and a minute per replica.
      assertNoLeak(synkti!, onDemand!, target, launchDelayMs, what, ledgerAllowanceUsd(target, launchDelayMs, prices, synkti!));
      worst = Math.max(worst, synkti!.costVsOnDemand!);
      if (synkti!.costVsOnDemand! > 1) above++;
      runs++;
    }
    assert.ok(runs >= 20);
    t.diagnostic(`${runs} runs in ${Date.now() - started} ms; worst cost vs on-demand ${worst.toFixed(4)}; ${above} above on-demand`);
  });
});

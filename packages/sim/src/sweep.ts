import { SynktiError } from '@synkti/core';
import { runPaired } from './paired-runs.ts';
import type { PriceTable } from './price-table.ts';
import { selectZones, type TraceSet } from './trace-loader.ts';

export interface SweepOptions {
  traces: TraceSet;
  prices: PriceTable;
  /** Spot price as a share of on-demand, every zone. @default [0.3, 0.4, 0.5, 0.6, 0.7] */
  priceRatios?: readonly number[];
  /** @default [2, 4, 8] */
  replicas?: readonly number[];
  /** @default [60000, 183000, 600000] */
  launchDelaysMs?: readonly number[];
  /** Zone sets to run; default: all of the traces' zones. */
  zoneSets?: readonly (readonly string[])[];
  /** Policies besides on-demand. @default ['skyserve', 'synkti'] */
  policies?: readonly string[];
  /** @default 1 */
  seed?: number;
}

export interface SweepRow {
  zones: string[];
  replicas: number;
  launchDelayMs: number;
  priceRatio: number;
  policy: string;
  costVsOnDemand: number;
  availability: number;
}

/**
 * Sensitivity, not one number: every combination of spot/on-demand price ratio, replicas,
 * launch delay and zone set, each policy paired against on-demand (no requests: cost and
 * availability do not depend on them). A policy's decisions do not depend on the price, so
 * each (zones, replicas, delay) is simulated once and priced at every ratio from its
 * billed spot and on-demand hours.
 */
export function runSweep(options: SweepOptions): SweepRow[] {
  const ratios = options.priceRatios ?? [0.3, 0.4, 0.5, 0.6, 0.7];
  for (const r of ratios) {
    if (!(r > 0 && r <= 1)) throw new SynktiError('E_SIM_SWEEP', `price ratio must be in (0, 1] (got ${r})`, { hint: 'e.g. 0.3 for spot at 30 % of on-demand' });
  }
  const onDemandPrice = options.prices.onDemandUsdPerHour;
  if (Object.keys(options.prices.zones).length > 0) {
    throw new SynktiError('E_SIM_SWEEP', 'the sweep sets one spot price ratio for every zone; the price table has per-zone prices', { hint: 'use a price table without zones for --sweep' });
  }
  const rows: SweepRow[] = [];
  for (const zones of options.zoneSets ?? [options.traces.zones.map((z) => z.zone)]) {
    const traces = selectZones(options.traces, zones);
    for (const replicas of options.replicas ?? [2, 4, 8]) {
      for (const launchDelayMs of options.launchDelaysMs ?? [60_000, 183_000, 600_000]) {
        const results = runPaired({
          traces, prices: options.prices, target: replicas, seed: options.seed ?? 1, launchDelayMs,
          policies: ['on-demand', ...(options.policies ?? ['skyserve', 'synkti'])], workload: { kind: 'serve', requestsPerSecond: 0 },
        });
        const reference = results.find((r) => r.policy === 'on-demand')!.onDemandHours * onDemandPrice;
        for (const priceRatio of ratios) {
          for (const r of results) {
            if (r.policy === 'on-demand') continue;
            // Billed hours × price: the same per-second billing the run used, at this ratio.
            const cost = r.spotHours * onDemandPrice * priceRatio + r.onDemandHours * onDemandPrice;
            rows.push({ zones: [...zones], replicas, launchDelayMs, priceRatio, policy: r.policy, costVsOnDemand: cost / reference, availability: r.availability });
          }
        }
      }
    }
  }
  return rows;
}

/** Markdown: one row per (zones, replicas, delay, policy), one cost column per price ratio. */
export function renderSweepTable(rows: readonly SweepRow[]): string {
  const ratios = [...new Set(rows.map((r) => r.priceRatio))];
  const key = (r: SweepRow): string => `${r.zones.join(' ')}|${r.replicas}|${r.launchDelayMs}|${r.policy}`;
  const groups = new Map<string, SweepRow[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  const lines = [
    `| zones | N | launch | policy | availability | ${ratios.map((x) => `cost @ spot ${Math.round(x * 100)} %`).join(' | ')} |`,
    `|---|---|---|---|---|${ratios.map(() => '---').join('|')}|`,
  ];
  for (const group of groups.values()) {
    const first = group[0]!;
    const cells = ratios.map((x) => `${(group.find((r) => r.priceRatio === x)!.costVsOnDemand * 100).toFixed(1)} %`);
    lines.push(`| ${first.zones.join(" ")} | ${first.replicas} | ${first.launchDelayMs / 1000} s | ${first.policy} | ${(first.availability * 100).toFixed(2)} % | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

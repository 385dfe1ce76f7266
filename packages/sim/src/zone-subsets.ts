import { SynktiError } from '@synkti/core';
import { clairvoyantBound, type ClairvoyantBound } from './clairvoyant-bound.ts';
import { runPaired, type PairedResult } from './paired-runs.ts';
import type { PriceTable } from './price-table.ts';
import { selectZones, type TraceSet } from './trace-loader.ts';

export interface ZoneSubsetOptions {
  traces: TraceSet;
  prices: PriceTable;
  /** Smallest subset size. @default 3 */
  minZones?: number;
  /** @default [2, 4, 8] */
  replicas?: readonly number[];
  /** Policies besides on-demand. @default ['spot-fallback', 'skyserve', 'deadline', 'synkti'] */
  policies?: readonly string[];
  /** @default 183000 */
  launchDelayMs?: number;
  /** @default 1 */
  seed?: number;
  /** At most this many subsets (largest first), to bound a run. @default 200 */
  maxSubsets?: number;
  /** Run exactly these zone sets instead of every subset. */
  zoneSets?: readonly (readonly string[])[];
  /** The objective the clairvoyant bound is computed for. @default 0.99 */
  availability?: number;
}

export interface ZoneSubsetRow {
  zones: string[];
  replicas: number;
  results: PairedResult[];
  /** The least cost any policy can pay for `availability` on this row (clairvoyantBound). */
  bound: ClairvoyantBound;
}

/** Every subset of `minZones` or more zones, in order (largest first). */
export function zoneSubsets(zones: readonly string[], minZones: number): string[][] {
  const out: string[][] = [];
  const pick = (from: number, current: string[]): void => {
    if (current.length >= minZones) out.push(current);
    for (let i = from; i < zones.length; i++) pick(i + 1, [...current, zones[i]!]);
  };
  pick(0, []);
  return out.sort((a, b) => b.length - a.length || a.join().localeCompare(b.join()));
}

/**
 * The sensitivity to which zones one has: each zone subset × replica count, every policy
 * run paired (no requests: availability and cost do not depend on them). Serving
 * availability = share of time with ≥ N ready.
 */
export function runZoneSubsets(options: ZoneSubsetOptions): ZoneSubsetRow[] {
  const minZones = options.minZones ?? 3;
  const all = options.traces.zones.map((z) => z.zone);
  if (minZones < 1 || minZones > all.length) {
    throw new SynktiError('E_SIM_ZONE', `minZones must be 1–${all.length} for ${options.traces.dir} (got ${minZones})`, { hint: 'e.g. 3' });
  }
  const rows: ZoneSubsetRow[] = [];
  for (const zones of options.zoneSets ?? zoneSubsets(all, minZones).slice(0, options.maxSubsets ?? 200)) {
    const traces = selectZones(options.traces, zones);
    for (const replicas of options.replicas ?? [2, 4, 8]) {
      const results = runPaired({
        traces,
        prices: options.prices,
        target: replicas,
        seed: options.seed ?? 1,
        launchDelayMs: options.launchDelayMs,
        policies: ['on-demand', ...(options.policies ?? ['spot-fallback', 'skyserve', 'deadline', 'synkti'])],
        workload: { kind: 'serve', requestsPerSecond: 0 },
      });
      const bound = clairvoyantBound({ traces, prices: options.prices, target: replicas, availability: options.availability });
      rows.push({ zones: [...zones], replicas, results, bound });
    }
  }
  return rows;
}

/** The cost share the must-show allows at its availability ("≥ 99 % at ≤ 50 % of on-demand"). */
export const CLAIM_COST_SHARE = 0.5;

/**
 * A Markdown table: per row, each policy's cost vs on-demand and availability, then the
 * clairvoyant bound (least cost vs on-demand any policy can pay for the objective) and
 * whether ≤ 50 % at the objective is possible at all.
 */
export function renderZoneSubsetTable(rows: readonly ZoneSubsetRow[]): string {
  const policies = rows[0]?.results.map((r) => r.policy).filter((p) => p !== 'on-demand') ?? [];
  const lines = [
    `| zones | N | ${policies.map((p) => `${p} cost / avail.`).join(' | ')} | clairvoyant bound | ≤ 50 % possible |`,
    `|---|---|${policies.map(() => '---').join('|')}|---|---|`,
  ];
  for (const row of rows) {
    const cells = policies.map((p) => {
      const r = row.results.find((x) => x.policy === p)!;
      return `${(r.costVsOnDemand! * 100).toFixed(1)} % / ${(r.availability * 100).toFixed(2)} %`;
    });
    const share = row.bound.costVsOnDemand;
    cells.push(
      share === undefined ? 'unreachable' : `${(share * 100).toFixed(1)} %`,
      share !== undefined && share <= CLAIM_COST_SHARE ? 'yes' : '**no**',
    );
    lines.push(`| ${row.zones.join(' ')} | ${row.replicas} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

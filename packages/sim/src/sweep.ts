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
  /** Simulated length; default: the traces' length. */
  durationMs?: number;
  /** Called after each (zones, replicas, delay) run: progress for long sweeps. */
  onProgress?: (done: number, total: number) => void;
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
    if (!(r > 0 && r <= 1))
      throw new SynktiError('E_SIM_SWEEP', `price ratio must be in (0, 1] (got ${r})`, { hint: 'e.g. 0.3 for spot at 30 % of on-demand' });
  }
  const onDemandPrice = options.prices.onDemandUsdPerHour;
  if (Object.keys(options.prices.zones).length > 0) {
    throw new SynktiError('E_SIM_SWEEP', 'the sweep sets one spot price ratio for every zone; the price table has per-zone prices', {
      hint: 'use a price table without zones for --sweep',
    });
  }
  const rows: SweepRow[] = [];
  const zoneSets = options.zoneSets ?? [options.traces.zones.map((z) => z.zone)];
  const total = zoneSets.length * (options.replicas ?? [2, 4, 8]).length * (options.launchDelaysMs ?? [60_000, 183_000, 600_000]).length;
  let done = 0;
  for (const zones of zoneSets) {
    const traces = selectZones(options.traces, zones);
    for (const replicas of options.replicas ?? [2, 4, 8]) {
      for (const launchDelayMs of options.launchDelaysMs ?? [60_000, 183_000, 600_000]) {
        const results = runPaired({
          traces,
          prices: options.prices,
          target: replicas,
          seed: options.seed ?? 1,
          launchDelayMs,
          durationMs: options.durationMs,
          policies: ['on-demand', ...(options.policies ?? ['skyserve', 'synkti'])],
          workload: { kind: 'serve', requestsPerSecond: 0 },
        });
        options.onProgress?.(++done, total);
        const reference = results.find((r) => r.policy === 'on-demand')!.onDemandHours * onDemandPrice;
        for (const priceRatio of ratios) {
          for (const r of results) {
            if (r.policy === 'on-demand') continue;
            // Billed hours × price: the same per-second billing the run used, at this ratio.
            const cost = r.spotHours * onDemandPrice * priceRatio + r.onDemandHours * onDemandPrice;
            rows.push({
              zones: [...zones],
              replicas,
              launchDelayMs,
              priceRatio,
              policy: r.policy,
              costVsOnDemand: cost / reference,
              availability: r.availability,
            });
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
    lines.push(
      `| ${first.zones.join(' ')} | ${first.replicas} | ${first.launchDelayMs / 1000} s | ${first.policy} | ${(first.availability * 100).toFixed(2)} % | ${cells.join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * An SVG of the sweep: cost vs on-demand (y) against the spot/on-demand price ratio (x),
 * one line per (policy, replicas, launch delay) on the largest zone set, labelled with its
 * availability; the 50 % and 100 % lines dashed. Plain SVG that any browser opens.
 */
export function renderSweepChart(rows: readonly SweepRow[], options: { title?: string } = {}): string {
  const largest = Math.max(...rows.map((r) => r.zones.length));
  const picked = rows.filter((r) => r.zones.length === largest);
  const zones = picked[0]?.zones.join(' ') ?? '';
  const onSet = picked.filter((r) => r.zones.join(' ') === zones);
  const ratios = [...new Set(onSet.map((r) => r.priceRatio))].sort((a, b) => a - b);
  const groups = new Map<string, SweepRow[]>();
  for (const r of onSet) {
    const key = `${r.policy}, N=${r.replicas}, ${r.launchDelayMs / 1000} s`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const width = 960;
  const height = 520;
  const left = 60;
  const right = 330;
  const top = 50;
  const bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xMin = ratios[0] ?? 0;
  const xMax = ratios[ratios.length - 1] ?? 1;
  const yMax = Math.max(1.1, ...onSet.map((r) => r.costVsOnDemand));
  const x = (v: number): number => left + (xMax === xMin ? plotW / 2 : ((v - xMin) / (xMax - xMin)) * plotW);
  const y = (v: number): number => top + plotH - (v / yMax) * plotH;
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="24" font-size="15">${escapeXml(options.title ?? `Cost vs on-demand by spot price ratio (${zones})`)}</text>`,
  ];
  for (const level of [0.5, 1])
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(level).toFixed(1)}" y2="${y(level).toFixed(1)}" stroke="#999" stroke-dasharray="4 4"/><text x="${left - 6}" y="${(y(level) + 4).toFixed(1)}" text-anchor="end">${level * 100} %</text>`,
    );
  out.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/><line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
  );
  for (const ratio of ratios)
    out.push(`<text x="${x(ratio).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle">${Math.round(ratio * 100)} %</text>`);
  out.push(`<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">spot price as a share of on-demand</text>`);
  [...groups.entries()].forEach(([label, group], i) => {
    const color = palette[i % palette.length]!;
    const points = group
      .sort((a, b) => a.priceRatio - b.priceRatio)
      .map((r) => `${x(r.priceRatio).toFixed(1)},${y(r.costVsOnDemand).toFixed(1)}`)
      .join(' ');
    out.push(
      `<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"${group[0]!.policy === 'synkti' ? '' : ' stroke-dasharray="6 3"'}/>`,
    );
    const ly = top + 14 + i * 16;
    out.push(
      `<line x1="${left + plotW + 16}" x2="${left + plotW + 40}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/><text x="${left + plotW + 46}" y="${ly}">${escapeXml(`${label}: ${(group[0]!.availability * 100).toFixed(2)} % avail.`)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

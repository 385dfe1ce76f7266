import { readFile } from 'node:fs/promises';
import { SynktiError } from '@synkti/core';

/**
 * Spot prices per zone over time, read from the JSON `aws ec2 describe-spot-price-history`
 * prints: `{"SpotPriceHistory": [{"AvailabilityZone", "InstanceType", "ProductDescription",
 * "SpotPrice": "0.918000", "Timestamp": "2023-02-15T00:00:00+00:00"}, ...]}`. A price holds
 * from its timestamp until the zone's next one (AWS publishes a row per change). Simulated
 * time 0 is the earliest timestamp in the file, unless a start is given.
 */
export interface SpotPriceHistory {
  file: string;
  instanceType: string;
  /** Epoch ms of simulated time 0. */
  startMs: number;
  /** Per zone: change times (simulated ms, ascending, the first ≤ 0) and the price from then. */
  zones: Map<string, { at: number[]; usdPerHour: number[] }>;
}

/** Rows accepted in one file: a bound on hostile or mistaken input. */
export const MAX_PRICE_ROWS = 200_000;

export async function loadSpotPriceHistory(file: string, options: { startMs?: number } = {}): Promise<SpotPriceHistory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SynktiError('E_SIM_SPOT_PRICES', `cannot read the spot price file ${file}`, {
      cause: error,
      hint: 'pass --spot-prices <file> with the JSON of aws ec2 describe-spot-price-history (see packages/sim/data/spot-prices-p3.2xlarge-sample.json)',
    });
  }
  return parseSpotPriceHistory(text, file, options);
}

export function parseSpotPriceHistory(text: string, file: string, options: { startMs?: number } = {}): SpotPriceHistory {
  const fail = (what: string): never => {
    throw new SynktiError('E_SIM_SPOT_PRICES', `${file}: ${what}`, {
      hint: 'expected {"SpotPriceHistory": [{"AvailabilityZone": "us-east-1a", "InstanceType": "p3.2xlarge", "SpotPrice": "0.918000", "Timestamp": "2023-02-15T00:00:00+00:00"}, ...]}, as aws ec2 describe-spot-price-history --output json prints',
    });
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
  const rows = (parsed as { SpotPriceHistory?: unknown } | null)?.SpotPriceHistory;
  if (!Array.isArray(rows) || rows.length === 0) return fail('SpotPriceHistory must be a non-empty array');
  if (rows.length > MAX_PRICE_ROWS) return fail(`${rows.length} rows; at most ${MAX_PRICE_ROWS}`);
  const types = new Set<string>();
  const raw: { zone: string; atMs: number; usdPerHour: number }[] = [];
  rows.forEach((row: unknown, i) => {
    const r = row as Record<string, unknown>;
    if (typeof r !== 'object' || r === null) fail(`SpotPriceHistory[${i}] must be an object`);
    if (typeof r.AvailabilityZone !== 'string' || r.AvailabilityZone === '' || r.AvailabilityZone.length > 64)
      fail(`SpotPriceHistory[${i}].AvailabilityZone must be a zone name`);
    if (typeof r.InstanceType === 'string') types.add(r.InstanceType);
    const price = typeof r.SpotPrice === 'string' ? Number(r.SpotPrice) : Number.NaN;
    if (!Number.isFinite(price) || price <= 0)
      fail(`SpotPriceHistory[${i}].SpotPrice must be a positive number in a string (got ${JSON.stringify(r.SpotPrice)})`);
    const atMs = typeof r.Timestamp === 'string' ? Date.parse(r.Timestamp) : Number.NaN;
    if (!Number.isFinite(atMs)) fail(`SpotPriceHistory[${i}].Timestamp must be an ISO 8601 time (got ${JSON.stringify(r.Timestamp)})`);
    raw.push({ zone: r.AvailabilityZone as string, atMs, usdPerHour: price });
  });
  if (types.size > 1) fail(`prices of several instance types (${[...types].join(', ')}); pass one type's history (--instance-types)`);
  const startMs = options.startMs ?? Math.min(...raw.map((r) => r.atMs));
  const zones = new Map<string, { at: number[]; usdPerHour: number[] }>();
  for (const r of raw.sort((a, b) => a.atMs - b.atMs)) {
    const series = zones.get(r.zone) ?? { at: [], usdPerHour: [] };
    series.at.push(r.atMs - startMs);
    series.usdPerHour.push(r.usdPerHour);
    zones.set(r.zone, series);
  }
  return { file, instanceType: [...types][0] ?? 'unknown', startMs, zones };
}

/**
 * Dollars for one instance in `zone` from `fromMs` to `toMs` (simulated), billed per second
 * at the price in effect each second; before the zone's first row, its first price holds.
 * Undefined when the file has no row for the zone.
 */
export function spotCostUsd(history: SpotPriceHistory, zone: string, fromMs: number, toMs: number): number | undefined {
  const series = history.zones.get(zone);
  if (!series) return undefined;
  let cost = 0;
  for (let i = 0; i < series.at.length; i++) {
    const start = i === 0 ? Number.NEGATIVE_INFINITY : series.at[i]!;
    const end = i + 1 < series.at.length ? series.at[i + 1]! : Number.POSITIVE_INFINITY;
    const overlap = Math.min(end, toMs) - Math.max(start, fromMs);
    if (overlap > 0) cost += (overlap / 3_600_000) * series.usdPerHour[i]!;
  }
  return cost;
}

/** The time-weighted mean price of a zone over [0, horizon] (for reports). */
export function meanSpotPrice(history: SpotPriceHistory, zone: string, horizonMs: number): number | undefined {
  const cost = spotCostUsd(history, zone, 0, horizonMs);
  return cost === undefined || horizonMs <= 0 ? undefined : cost / (horizonMs / 3_600_000);
}

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { SynktiError } from '@synkti/core';
import type { Lifecycle } from '@synkti/cloud';

/** Prices per instance-hour. Zone entries override the defaults for that zone. */
export interface PriceTable {
  instanceType: string;
  onDemandUsdPerHour: number;
  spotUsdPerHour: number;
  zones: Record<string, { onDemandUsdPerHour?: number | undefined; spotUsdPerHour?: number | undefined }>;
  sources: Record<string, string>;
}

/** The shipped table for the shipped V100 traces (sources inside the file). */
export const DEFAULT_PRICE_FILE = fileURLToPath(new URL('../data/prices-aws-p3.2xlarge.json', import.meta.url));

export async function loadPriceTable(file: string = DEFAULT_PRICE_FILE): Promise<PriceTable> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new SynktiError('E_SIM_PRICES', `cannot read the price table ${file}`, {
      cause: error,
      hint: 'pass a JSON file like packages/sim/data/prices-aws-p3.2xlarge.json',
    });
  }
  return validatePriceTable(raw, file);
}

function validatePriceTable(raw: unknown, file: string): PriceTable {
  const fail = (field: string, what: string): never => {
    throw new SynktiError('E_SIM_PRICES', `${file}: ${field} ${what}`, {
      hint: 'fields: instanceType, onDemandUsdPerHour, spotUsdPerHour, optional zones.<zone>.{onDemandUsdPerHour,spotUsdPerHour}, sources',
    });
  };
  const positive = (value: unknown, field: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      fail(field, `must be a positive number (got ${JSON.stringify(value)})`);
    return value as number;
  };
  if (typeof raw !== 'object' || raw === null) fail('(root)', 'must be an object');
  const o = raw as Record<string, unknown>;
  if (typeof o.instanceType !== 'string' || o.instanceType === '') fail('instanceType', 'must be a non-empty string');
  const zones: PriceTable['zones'] = {};
  for (const [zone, entry] of Object.entries((o.zones ?? {}) as Record<string, Record<string, unknown>>)) {
    zones[zone] = {
      onDemandUsdPerHour:
        entry.onDemandUsdPerHour === undefined ? undefined : positive(entry.onDemandUsdPerHour, `zones.${zone}.onDemandUsdPerHour`),
      spotUsdPerHour: entry.spotUsdPerHour === undefined ? undefined : positive(entry.spotUsdPerHour, `zones.${zone}.spotUsdPerHour`),
    };
  }
  return {
    instanceType: o.instanceType as string,
    onDemandUsdPerHour: positive(o.onDemandUsdPerHour, 'onDemandUsdPerHour'),
    spotUsdPerHour: positive(o.spotUsdPerHour, 'spotUsdPerHour'),
    zones,
    sources: (o.sources ?? {}) as Record<string, string>,
  };
}

export function priceFor(table: PriceTable, zone: string, lifecycle: Lifecycle): number {
  const override = table.zones[zone];
  return lifecycle === 'spot'
    ? (override?.spotUsdPerHour ?? table.spotUsdPerHour)
    : (override?.onDemandUsdPerHour ?? table.onDemandUsdPerHour);
}

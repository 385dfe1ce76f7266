import { SIZES, SIZE_TO_INSTANCE_TYPE } from '@synkti/core';
import { AWS_ON_DEMAND_USD_PER_HOUR, awsInstancePrice } from '@synkti/cloud/instance-prices';

/** Hourly prices of one instance type (USD). */
export interface InstancePrice {
  onDemandUsdPerHour: number;
  spotUsdPerHour: number;
  /** What the price stands for (local sizes mirror an AWS type so the figures mean something). */
  note: string;
}

function dashboardPrices(): Record<string, InstancePrice> {
  const prices: Record<string, InstancePrice> = {};
  for (const type of Object.keys(AWS_ON_DEMAND_USD_PER_HOUR)) prices[type] = { ...awsInstancePrice(type)!, note: 'us-east-1' };
  for (const size of SIZES) {
    const aws = SIZE_TO_INSTANCE_TYPE.aws[size];
    const price = awsInstancePrice(aws);
    if (price) prices[SIZE_TO_INSTANCE_TYPE.local[size]] = { ...price, note: `priced as ${aws} (us-east-1)` };
  }
  return prices;
}

/**
 * Prices the dashboard uses for the cost rate: @synkti/cloud's AWS table (us-east-1 list
 * prices on demand; spot as the family's typical discount, since spot prices move hourly:
 * read the figures as an indication, not a bill). Local sizes cost nothing to run, so they
 * are priced as the AWS type each size maps to on AWS (SIZE_TO_INSTANCE_TYPE).
 */
export const DASHBOARD_PRICES: Readonly<Record<string, InstancePrice>> = dashboardPrices();

/** The fleet's cost rate now and what the same nodes would cost on demand. */
export interface CostRate {
  usdPerHour: number;
  onDemandUsdPerHour: number;
  /** 1 - usdPerHour / onDemandUsdPerHour; 0 for an empty fleet. */
  savings: number;
  /** Instance types running that the table does not price (left out of both sums). */
  unpriced: string[];
}

export function costRate(
  nodes: readonly { instanceType: string; lifecycle: string }[],
  prices: Readonly<Record<string, InstancePrice>> = DASHBOARD_PRICES,
): CostRate {
  let usdPerHour = 0;
  let onDemandUsdPerHour = 0;
  const unpriced = new Set<string>();
  for (const node of nodes) {
    const price = prices[node.instanceType];
    if (!price) {
      unpriced.add(node.instanceType);
      continue;
    }
    onDemandUsdPerHour += price.onDemandUsdPerHour;
    usdPerHour += node.lifecycle === 'spot' ? price.spotUsdPerHour : price.onDemandUsdPerHour;
  }
  return {
    usdPerHour,
    onDemandUsdPerHour,
    savings: onDemandUsdPerHour > 0 ? 1 - usdPerHour / onDemandUsdPerHour : 0,
    unpriced: [...unpriced].sort(),
  };
}

/** Hourly prices of one instance type (USD). */
export interface InstancePrice {
  onDemandUsdPerHour: number;
  spotUsdPerHour: number;
  /** What the price stands for (local sizes mirror an AWS type so the figures mean something). */
  note: string;
}

/**
 * Prices the dashboard uses for the cost rate. Local sizes cost nothing to run, so they
 * are priced as the AWS type each size maps to on AWS (SIZE_TO_INSTANCE_TYPES): on-demand
 * is the us-east-1 Linux list price; spot is a typical recent us-east-1 spot price, which
 * moves hourly — read the figures as an indication, not a bill.
 */
export const DASHBOARD_PRICES: Readonly<Record<string, InstancePrice>> = {
  'local.small': { onDemandUsdPerHour: 0.0416, spotUsdPerHour: 0.0135, note: 'priced as t3.medium (us-east-1)' },
  'local.medium': { onDemandUsdPerHour: 0.192, spotUsdPerHour: 0.075, note: 'priced as m6i.xlarge (us-east-1)' },
  'local.large': { onDemandUsdPerHour: 0.768, spotUsdPerHour: 0.31, note: 'priced as m6i.4xlarge (us-east-1)' },
  'local.gpu': { onDemandUsdPerHour: 1.006, spotUsdPerHour: 0.41, note: 'priced as g5.xlarge (us-east-1)' },
  't3.medium': { onDemandUsdPerHour: 0.0416, spotUsdPerHour: 0.0135, note: 'us-east-1' },
  'm6i.xlarge': { onDemandUsdPerHour: 0.192, spotUsdPerHour: 0.075, note: 'us-east-1' },
  'm6i.4xlarge': { onDemandUsdPerHour: 0.768, spotUsdPerHour: 0.31, note: 'us-east-1' },
  'g5.xlarge': { onDemandUsdPerHour: 1.006, spotUsdPerHour: 0.41, note: 'us-east-1' },
  'g6.xlarge': { onDemandUsdPerHour: 0.805, spotUsdPerHour: 0.34, note: 'us-east-1' },
  'g4dn.xlarge': { onDemandUsdPerHour: 0.526, spotUsdPerHour: 0.22, note: 'us-east-1' },
};

/** The fleet's cost rate now and what the same nodes would cost on demand. */
export interface CostRate {
  usdPerHour: number;
  onDemandUsdPerHour: number;
  /** 1 - usdPerHour / onDemandUsdPerHour; 0 for an empty fleet. */
  savings: number;
  /** Instance types running that the table does not price (left out of both sums). */
  unpriced: string[];
}

export function costRate(nodes: readonly { instanceType: string; lifecycle: string }[], prices: Readonly<Record<string, InstancePrice>> = DASHBOARD_PRICES): CostRate {
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
  return { usdPerHour, onDemandUsdPerHour, savings: onDemandUsdPerHour > 0 ? 1 - usdPerHour / onDemandUsdPerHour : 0, unpriced: [...unpriced].sort() };
}

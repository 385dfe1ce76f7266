/**
 * AWS instance prices: the one table Synkti prices EC2 instances from (the dashboard's
 * cost rate, the default table of `synkti infra cost`). On-demand: us-east-1 public list
 * prices, Linux, shared tenancy, as published on the AWS pricing pages in 2025
 * (hand-copied, not fetched). Spot: on-demand less the family's typical discount, the
 * usual range the Spot Instance Advisor shows; spot prices move every few minutes, so a
 * spot figure is an estimate, never a quote.
 */

export const AWS_PRICE_SOURCE = "AWS EC2 on-demand pricing, us-east-1 Linux (2025, hand-copied); spot: the family's typical discount";

/** On-demand USD per instance-hour, us-east-1. */
export const AWS_ON_DEMAND_USD_PER_HOUR: Readonly<Record<string, number>> = {
  't3.medium': 0.0416,
  'm6i.xlarge': 0.192,
  'm6i.4xlarge': 0.768,
  't4g.medium': 0.0336,
  't4g.xlarge': 0.1344,
  't4g.2xlarge': 0.2688,
  'c7g.large': 0.0725,
  'c6g.large': 0.068,
  'm7g.xlarge': 0.1632,
  'm6g.xlarge': 0.154,
  'm7g.2xlarge': 0.3264,
  'm6g.2xlarge': 0.308,
  'r7iz.2xlarge': 0.744,
  'r7i.2xlarge': 0.5292,
  'r6i.2xlarge': 0.504,
  'c7a.4xlarge': 0.82104,
  'c7i.4xlarge': 0.714,
  'c6a.4xlarge': 0.612,
  'g4dn.xlarge': 0.526,
  'g4dn.2xlarge': 0.752,
  'g5.xlarge': 1.006,
  'g5.2xlarge': 1.212,
  'g6.xlarge': 0.8048,
  'g6e.xlarge': 1.861,
  'g6e.2xlarge': 2.24208,
  'p3.2xlarge': 3.06,
};

/** Typical fraction saved on spot, by instance family (the part of the type before the dot); `default` for the rest. */
export const AWS_SPOT_DISCOUNT: Readonly<Record<string, number>> = {
  default: 0.65,
  g4dn: 0.7,
  g5: 0.68,
  g6: 0.65,
  g6e: 0.6,
  p3: 0.7,
  t4g: 0.65,
  c7g: 0.6,
  m7g: 0.6,
};

/** The spot discount of an instance type's family in `discounts` (`default` when the family has none). */
export function spotDiscountFor(instanceType: string, discounts: Readonly<Record<string, number>> = AWS_SPOT_DISCOUNT): number {
  return discounts[instanceType.split(/[.-]/)[0]!] ?? discounts.default ?? AWS_SPOT_DISCOUNT.default!;
}

export interface InstanceHourlyPrice {
  onDemandUsdPerHour: number;
  spotUsdPerHour: number;
}

/** An EC2 instance type's hourly prices from the table, or undefined when the table does not price it. */
export function awsInstancePrice(instanceType: string): InstanceHourlyPrice | undefined {
  const onDemand = AWS_ON_DEMAND_USD_PER_HOUR[instanceType];
  if (onDemand === undefined) return undefined;
  return { onDemandUsdPerHour: onDemand, spotUsdPerHour: onDemand * (1 - spotDiscountFor(instanceType)) };
}

/**
 * `serve.loadBalancer`: the load balancer target groups in front of a fleet's routers.
 * At a spot notice (t=0) a node deregisters itself from them, so the load balancer stops
 * sending it new requests at once instead of after its health checks fail (10 s or
 * more); once ready, a node registers itself (a replacement launched by an agent is in
 * no Auto Scaling group that would).
 */
import { z } from 'zod';

/** An ELBv2 target group ARN: `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex>`. */
export const TARGET_GROUP_ARN =
  /^arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
/** At most this many target groups per node: each costs one API call at the notice. */
export const MAX_TARGET_GROUPS = 20;
export const TARGET_GROUP_ARN_EXAMPLE = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/routers/0123456789abcdef';

export const loadBalancerInputSchema = z.strictObject({
  targetGroupArns: z.array(z.string().regex(TARGET_GROUP_ARN)).max(MAX_TARGET_GROUPS).optional(),
  targetType: z.enum(['instance', 'ip']).optional(),
  registerSelf: z.boolean().optional(),
  discover: z.boolean().optional(),
});

export interface LoadBalancerSpec {
  /** Target groups the node's router is (or will be) registered in; the `SynktiTargetGroups` launch tag adds more. @default [] */
  targetGroupArns: string[];
  /** How the groups name a node: its instance id (`instance`) or its private IP (`ip`), with the router port. @default 'instance' */
  targetType: 'instance' | 'ip';
  /** Register into those groups once ready (idempotent; needs elasticloadbalancing:RegisterTargets on them). @default true */
  registerSelf: boolean;
  /**
   * When no ARN is known at the notice: look for this node in the account's target groups,
   * bounded (needs elasticloadbalancing:DescribeTargetGroups and DescribeTargetHealth, which
   * IAM grants only on "*"). A fallback: naming the ARNs costs one call per group instead.
   * @default false
   */
  discover: boolean;
}

/** The same, resolved, as it travels to agents in user data (validated again on arrival). */
export const resolvedLoadBalancerSchema = z.strictObject({
  targetGroupArns: z.array(z.string().regex(TARGET_GROUP_ARN)).max(MAX_TARGET_GROUPS),
  targetType: z.enum(['instance', 'ip']),
  registerSelf: z.boolean(),
  discover: z.boolean(),
});

export function resolveLoadBalancer(input: z.output<typeof loadBalancerInputSchema>): LoadBalancerSpec {
  return {
    targetGroupArns: [...new Set(input.targetGroupArns ?? [])],
    targetType: input.targetType ?? 'instance',
    registerSelf: input.registerSelf ?? true,
    discover: input.discover ?? false,
  };
}

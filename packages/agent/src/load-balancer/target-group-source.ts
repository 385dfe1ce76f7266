/**
 * Which target groups a node belongs to, without asking the cloud: the cluster config
 * (`serve.loadBalancer.targetGroupArns`, carried by the user data every replacement boots
 * with) and the `SynktiTargetGroups` launch tag (set by SpotServeFleet's launch template).
 * Naming the groups costs one API call per group at a notice, whatever the account holds;
 * listing every group in the account (`discover`) is the bounded fallback.
 */
import { MAX_TARGET_GROUPS, TAG_TARGET_GROUPS, TARGET_GROUP_ARN, type LoadBalancerSpec } from '@synkti/core';

export interface TargetGroupSource {
  /** Distinct, well-formed ARNs from the config and the tag (config first), at most MAX_TARGET_GROUPS. */
  targetGroupArns: string[];
  targetType: LoadBalancerSpec['targetType'];
  registerSelf: boolean;
  discover: boolean;
  /** Tag entries that are not target group ARNs (the tag is instance input: never trusted). */
  rejected: string[];
}

/** Undefined when neither the config nor the tag names a group and discovery is off: no load balancer. */
export function targetGroupSource(spec: LoadBalancerSpec | undefined, tags: Record<string, string>): TargetGroupSource | undefined {
  const fromTag = (tags[TAG_TARGET_GROUPS] ?? '').split(/[\s,]+/).filter(Boolean);
  const rejected = fromTag.filter((arn) => !TARGET_GROUP_ARN.test(arn));
  const arns = [...new Set([...(spec?.targetGroupArns ?? []), ...fromTag.filter((arn) => TARGET_GROUP_ARN.test(arn))])];
  if (arns.length > MAX_TARGET_GROUPS) rejected.push(...arns.splice(MAX_TARGET_GROUPS));
  const discover = spec?.discover ?? false;
  if (arns.length === 0 && !discover) return undefined;
  return {
    targetGroupArns: arns,
    targetType: spec?.targetType ?? 'instance',
    registerSelf: spec?.registerSelf ?? true,
    discover,
    rejected: rejected.map((r) => (r.length > 120 ? `${r.slice(0, 120)}…` : r)),
  };
}

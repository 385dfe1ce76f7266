/**
 * What SpotServeFleet adds so a worker can leave its load balancer at t=0 of a spot notice
 * (and a replacement join it): the deregistration delay that fits inside the notice, the
 * worker's grant on exactly the fleet's target group, and the target group ARN in the
 * agents' cluster config (user data, which replacements boot with too).
 */
import type * as pulumi from '@pulumi/pulumi';
import { TAG_CLUSTER, TARGET_GROUP_ARN, type ClusterSpec } from '@synkti/core';
import { inputError } from '../validate.ts';
import type { PolicyStatementInput } from './iam-policy.ts';

/** EC2's spot interruption notice: two minutes before the instance goes. */
export const SPOT_NOTICE_SECONDS = 120;
/**
 * How long the load balancer keeps a leaving node's open requests: the node leaves at the
 * notice, so this must end before the instance does (notice − drain margin), and should be
 * at least the longest stream the fleet serves (the load balancer cuts what is left then).
 */
export const DEFAULT_DEREGISTRATION_DELAY_SECONDS = 90;

/** The target group's deregistration delay: a whole number of seconds from 0 to notice − drain margin. */
export function checkDeregistrationDelay(component: string, value: number | undefined, drainMarginMs: number): number {
  const delay = value ?? DEFAULT_DEREGISTRATION_DELAY_SECONDS;
  const max = Math.floor((SPOT_NOTICE_SECONDS * 1000 - drainMarginMs) / 1000);
  if (!Number.isInteger(delay) || delay < 0 || delay > max) {
    throw inputError(
      component,
      'loadBalancer.deregistrationDelaySeconds',
      `must be a whole number of seconds from 0 to ${max} (got ${String(delay)})`,
      `a node leaves the load balancer at its spot notice and is gone ${SPOT_NOTICE_SECONDS} s later; its drain budget ends ${drainMarginMs / 1000} s before that (timeouts.drainMargin): keep the delay under it, e.g. ${DEFAULT_DEREGISTRATION_DELAY_SECONDS}`,
    );
  }
  return delay;
}

/**
 * The worker may take itself out of (and put itself into) the fleet's own target group,
 * and no other: the ARN, and the group's cluster tag. No Describe* (IAM grants those only
 * on "*"): the agents know the ARN from their config.
 */
export function targetGroupStatements(targetGroupArn: pulumi.Input<string>, cluster: string): PolicyStatementInput[] {
  return [
    {
      Sid: 'LeaveAndJoinOwnTargetGroup',
      Effect: 'Allow',
      Action: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
      Resource: targetGroupArn,
      Condition: { StringEquals: { [`aws:ResourceTag/${TAG_CLUSTER}`]: cluster } },
    },
  ];
}

/** The spec with the fleet's target group added to `serve.loadBalancer` (kept as given otherwise). */
export function withTargetGroup(spec: ClusterSpec, targetGroupArn: string | undefined): ClusterSpec {
  if (targetGroupArn === undefined) return spec;
  if (!TARGET_GROUP_ARN.test(targetGroupArn)) throw new Error(`not a target group ARN: ${targetGroupArn}`);
  const current = spec.serve.loadBalancer ?? { targetGroupArns: [], targetType: 'instance' as const, registerSelf: true, discover: false };
  if (current.targetGroupArns.includes(targetGroupArn)) return spec;
  return { ...spec, serve: { ...spec.serve, loadBalancer: { ...current, targetGroupArns: [...current.targetGroupArns, targetGroupArn] } } };
}

/**
 * What the node runtime needs of a load balancer: leave it at t=0 of a drain, join it once
 * ready. `LoadBalancerTargets` (ELBv2) is the implementation on AWS; the local provider
 * has no load balancer, so the runtime gets none (a no-op).
 */
import type { LoadBalancerExit, TargetGroupResult } from './load-balancer-targets.ts';

export interface LoadBalancerMember {
  /** Join the load balancer's target groups; idempotent; never throws. */
  register(): Promise<TargetGroupResult[]>;
  /** Leave them by `deadline` (epoch ms); handled once; never throws. */
  deregister(options: { deadline: number }): Promise<LoadBalancerExit>;
}

/** What a node knows of itself once booted: enough to name it as a target. */
export interface LoadBalancerSelf {
  instanceId: string;
  privateIp: string;
  routerPort: number;
  /** Its launch tags (`SynktiTargetGroups` names target groups). */
  tags: Record<string, string>;
}

/** Builds the node's load balancer membership once it has booted; undefined when it is behind none. */
export type LoadBalancerFactory = (self: LoadBalancerSelf) => LoadBalancerMember | undefined;

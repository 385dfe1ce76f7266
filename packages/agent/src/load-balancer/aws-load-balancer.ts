/**
 * A worker's load balancer membership on EC2. The ELBv2 client is built only when the
 * cluster config or the instance's `SynktiTargetGroups` tag names a target group (or
 * discovery is on): a fleet behind no load balancer makes no ELB call and needs no ELB
 * permission. The local provider has no load balancer and never calls this.
 */
import { ElasticLoadBalancingV2Client, type ElasticLoadBalancingV2ClientConfig } from '@aws-sdk/client-elastic-load-balancing-v2';
import { TAG_TARGET_GROUPS, type ClusterSpec } from '@synkti/core';
import type { Logger } from '../logger.ts';
import type { LoadBalancerFactory } from './load-balancer-member.ts';
import { LoadBalancerTargets, type LoadBalancerTargetsOptions } from './load-balancer-targets.ts';
import { targetGroupSource } from './target-group-source.ts';

export interface AwsLoadBalancerOptions {
  spec: ClusterSpec;
  /** The instance's region (target groups are regional). */
  region: string;
  logger: Logger;
  /** Extra client settings (an emulator's endpoint and credentials in tests). @default the standard AWS chain */
  clientConfig?: ElasticLoadBalancingV2ClientConfig | undefined;
  /** Passed through to LoadBalancerTargets (backoff, attempts, clock). */
  tuning?: Pick<LoadBalancerTargetsOptions, 'backoff' | 'maxAttempts' | 'registerTimeoutMs' | 'discovery'> | undefined;
}

export function awsLoadBalancer(options: AwsLoadBalancerOptions): LoadBalancerFactory {
  return (self) => {
    const source = targetGroupSource(options.spec.serve.loadBalancer, self.tags);
    if (!source) return undefined;
    if (source.rejected.length > 0) {
      options.logger.warn(
        { rejected: source.rejected, tag: TAG_TARGET_GROUPS },
        'ignoring target group entries that are not target group ARNs or over the limit of 20',
      );
    }
    // One attempt per SDK call: the retries (and their backoff) are LoadBalancerTargets', inside the drain budget.
    const client = new ElasticLoadBalancingV2Client({ region: options.region, maxAttempts: 1, ...options.clientConfig });
    options.logger.info(
      { targetGroups: source.targetGroupArns, targetType: source.targetType, discover: source.discover },
      'behind a load balancer: leaving it at a notice, joining it once ready',
    );
    return new LoadBalancerTargets({
      ...options.tuning,
      client,
      targetGroupArns: source.targetGroupArns,
      targetType: source.targetType,
      registerSelf: source.registerSelf,
      discover: source.discover,
      self: { instanceId: self.instanceId, privateIp: self.privateIp, port: self.routerPort },
      logger: options.logger,
    });
  };
}

/**
 * The fallback when a node knows no target group ARN: find the groups it is registered
 * in by listing the account's target groups (DescribeTargetGroups, at most `maxPages`
 * pages of 400) and asking each (DescribeTargetHealth filtered to this node, at most
 * `maxGroups` groups, `concurrency` at a time). That is O(groups) calls per notice, so it
 * is off unless asked for (`serve.loadBalancer.discover`) and bounded in count and time;
 * naming the ARNs in the config costs one call per group instead.
 */
import {
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  type TargetDescription,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { SynktiError } from '@synkti/core';
import { toLoadBalancerError } from './elb-errors.ts';
import type { SelfTarget } from './load-balancer-targets.ts';

export interface DiscoverTargetGroupsOptions {
  /** Pages of DescribeTargetGroups (400 groups each). @default 2 */
  maxPages?: number | undefined;
  /** Groups asked about this node. @default 50 */
  maxGroups?: number | undefined;
  /** DescribeTargetHealth calls in flight at once. @default 5 */
  concurrency?: number | undefined;
  /** Epoch ms after which no call is started. */
  deadline: number;
  clock?: (() => number) | undefined;
}

const NOT_IN_GROUP: ReadonlySet<string> = new Set(['unused']);

/** The groups (and exact targets, port included) this node is registered in; throws a SynktiError when listing fails. */
export async function discoverTargetGroups(
  client: Pick<ElasticLoadBalancingV2Client, 'send'>,
  self: SelfTarget,
  options: DiscoverTargetGroupsOptions,
): Promise<{ targetGroupArn: string; target: TargetDescription }[]> {
  const clock = options.clock ?? Date.now;
  const maxPages = Math.max(1, options.maxPages ?? 2);
  const maxGroups = Math.max(1, options.maxGroups ?? 50);
  const signal = (): AbortSignal => AbortSignal.timeout(Math.max(1, options.deadline - clock()));
  const groups: TargetGroup[] = [];
  let marker: string | undefined;
  for (let page = 0; page < maxPages && clock() < options.deadline; page++) {
    let answer;
    try {
      answer = await client.send(new DescribeTargetGroupsCommand({ PageSize: 400, Marker: marker }), { abortSignal: signal() });
    } catch (error) {
      throw toLoadBalancerError('DescribeTargetGroups', '*', error);
    }
    groups.push(...(answer.TargetGroups ?? []).filter((g) => g.TargetType === 'instance' || g.TargetType === 'ip'));
    marker = answer.NextMarker;
    if (!marker) break;
  }
  const candidates = groups.slice(0, maxGroups);
  const found: { targetGroupArn: string; target: TargetDescription }[] = [];
  let next = 0;
  let firstError: SynktiError | undefined;
  const worker = async (): Promise<void> => {
    while (next < candidates.length && clock() < options.deadline) {
      const group = candidates[next++]!;
      const id = group.TargetType === 'ip' ? self.privateIp : self.instanceId;
      try {
        const health = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: group.TargetGroupArn, Targets: [{ Id: id }] }), {
          abortSignal: signal(),
        });
        for (const description of health.TargetHealthDescriptions ?? []) {
          const state = description.TargetHealth?.State;
          if (description.Target?.Id === id && state !== undefined && !NOT_IN_GROUP.has(state)) {
            found.push({ targetGroupArn: group.TargetGroupArn!, target: { Id: id, Port: description.Target.Port ?? group.Port } });
          }
        }
      } catch (error) {
        firstError ??= toLoadBalancerError('DescribeTargetHealth', group.TargetGroupArn ?? '*', error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 5, candidates.length)) }, worker));
  if (found.length === 0 && firstError) throw firstError;
  return found;
}

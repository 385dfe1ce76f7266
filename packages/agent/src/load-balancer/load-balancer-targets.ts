/**
 * A node's membership in the load balancer in front of the routers. At a spot notice (t=0)
 * the node deregisters itself from every target group it is in, so the load balancer
 * sends it no new request from then on (its in-flight requests finish on their open
 * connections during the group's deregistration delay) instead of after its health
 * checks fail, 10 s or more later. Once ready, it registers itself: a replacement an
 * agent launched is in no Auto Scaling group that would, and "fleet back to size" is only
 * true behind a load balancer once the replacement is a target.
 *
 * Both calls are idempotent, retried with full-jitter backoff on throttling and AWS-side
 * faults inside a deadline, and never throw: a failure is logged with the missing
 * permission named and reported, and the drain goes on (the health check still takes
 * the node out, only later).
 */
import {
  DeregisterTargetsCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { fullJitterDelayMs, type BackoffOptions } from '@synkti/cloud';
import type { SynktiError } from '@synkti/core';
import type { Logger } from '../logger.ts';
import { discoverTargetGroups, type DiscoverTargetGroupsOptions } from './discover-target-groups.ts';
import { isInvalidTarget, isRetryableElbError, toLoadBalancerError } from './elb-errors.ts';
import type { LoadBalancerMember } from './load-balancer-member.ts';

/** This node as a load balancer target. */
export interface SelfTarget {
  instanceId: string;
  privateIp: string;
  /** The router port: the port the targets are registered with. */
  port: number;
}

export interface LoadBalancerTargetsOptions {
  /** An ELBv2 client for the node's region; build it with maxAttempts 1 (retries are ours, inside the deadline). */
  client: Pick<ElasticLoadBalancingV2Client, 'send'>;
  /** The target groups to leave and join (config and launch tag). */
  targetGroupArns: string[];
  /** How the groups name the node: instance id or private IP, with `self.port`. @default 'instance' */
  targetType?: 'instance' | 'ip' | undefined;
  self: SelfTarget;
  /** Join the groups once ready (off when an Auto Scaling group registers its instances and RegisterTargets is not granted). @default true */
  registerSelf?: boolean | undefined;
  /** When `targetGroupArns` is empty at a notice, look for the node in the account's groups (bounded). @default false */
  discover?: boolean | undefined;
  /** Bounds of that look. @default DiscoverTargetGroupsOptions defaults */
  discovery?: Omit<DiscoverTargetGroupsOptions, 'deadline'> | undefined;
  logger: Logger;
  /** Backoff between attempts. @default base 200 ms, cap 5 s */
  backoff?: BackoffOptions | undefined;
  /** Attempts per target group and call. @default 8 */
  maxAttempts?: number | undefined;
  /** How long a registration keeps trying. @default 60000 */
  registerTimeoutMs?: number | undefined;
  clock?: (() => number) | undefined;
  /** @default setTimeout-based */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/** `skipped`: a registration given up because the node began draining. */
export type TargetGroupOutcome = 'deregistered' | 'not-registered' | 'registered' | 'skipped' | 'failed';

export interface TargetGroupResult {
  targetGroupArn: string;
  target: TargetDescription;
  outcome: TargetGroupOutcome;
  attempts: number;
  /** Why it failed (code E_LB_PERMISSION names the missing permission). */
  error?: SynktiError | undefined;
}

export interface LoadBalancerExit {
  startedAt: number;
  tookMs: number;
  results: TargetGroupResult[];
}

interface TargetRef {
  targetGroupArn: string;
  target: TargetDescription;
}

export class LoadBalancerTargets implements LoadBalancerMember {
  private readonly options: LoadBalancerTargetsOptions;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private leaving: Promise<LoadBalancerExit> | undefined;

  constructor(options: LoadBalancerTargetsOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The configured groups, each with how it names this node. */
  private configured(): TargetRef[] {
    const { self, targetType = 'instance' } = this.options;
    const target: TargetDescription = { Id: targetType === 'ip' ? self.privateIp : self.instanceId, Port: self.port };
    return this.options.targetGroupArns.map((targetGroupArn) => ({ targetGroupArn, target }));
  }

  /**
   * Leave every target group, in parallel, by `deadline` (epoch ms). Called once per node
   * (a second call returns the first one's result); never throws.
   */
  deregister(options: { deadline: number }): Promise<LoadBalancerExit> {
    this.leaving ??= this.leave(options.deadline);
    return this.leaving;
  }

  /** Join every configured target group (not discovered ones); never throws. */
  async register(options: { deadline?: number | undefined } = {}): Promise<TargetGroupResult[]> {
    if (this.leaving || this.options.registerSelf === false) return []; // a draining node never joins again
    const deadline = options.deadline ?? this.clock() + (this.options.registerTimeoutMs ?? 60_000);
    const results = await Promise.all(this.configured().map((ref) => this.call('RegisterTargets', ref, deadline)));
    for (const result of results) this.logResult('RegisterTargets', result);
    return results;
  }

  private async leave(deadline: number): Promise<LoadBalancerExit> {
    const startedAt = this.clock();
    let refs = this.configured();
    if (refs.length === 0 && this.options.discover) {
      try {
        refs = await discoverTargetGroups(this.options.client, this.options.self, { ...this.options.discovery, deadline });
      } catch (error) {
        this.options.logger.error(
          { err: error },
          'could not look for this node in the load balancer target groups; its health check takes it out instead',
        );
        refs = [];
      }
    }
    const results = await Promise.all(refs.map((ref) => this.call('DeregisterTargets', ref, deadline)));
    for (const result of results) this.logResult('DeregisterTargets', result);
    return { startedAt, tookMs: this.clock() - startedAt, results };
  }

  private async call(action: 'RegisterTargets' | 'DeregisterTargets', ref: TargetRef, deadline: number): Promise<TargetGroupResult> {
    const maxAttempts = Math.max(1, this.options.maxAttempts ?? 8);
    const backoff = { baseMs: 200, capMs: 5000, ...this.options.backoff };
    let attempts = 0;
    for (;;) {
      // A drain began while a registration was still retrying: joining now would undo the exit.
      if (action === 'RegisterTargets' && this.leaving) return { ...ref, outcome: 'skipped', attempts };
      attempts += 1;
      const remaining = deadline - this.clock();
      try {
        const input = { TargetGroupArn: ref.targetGroupArn, Targets: [ref.target] };
        const command = action === 'RegisterTargets' ? new RegisterTargetsCommand(input) : new DeregisterTargetsCommand(input);
        // Bounded by the deadline: a hung connection must not outlive the drain budget.
        await this.options.client.send(command as DeregisterTargetsCommand, { abortSignal: AbortSignal.timeout(Math.max(1, remaining)) });
        return { ...ref, outcome: action === 'RegisterTargets' ? 'registered' : 'deregistered', attempts };
      } catch (error) {
        // AWS answers success for a target that is not registered; some emulators answer InvalidTarget.
        if (action === 'DeregisterTargets' && isInvalidTarget(error)) return { ...ref, outcome: 'not-registered', attempts };
        const wait = fullJitterDelayMs(attempts - 1, backoff);
        const retry = isRetryableElbError(error) && attempts < maxAttempts && this.clock() + wait < deadline;
        if (!retry) return { ...ref, outcome: 'failed', attempts, error: toLoadBalancerError(action, ref.targetGroupArn, error) };
        await this.sleep(wait);
      }
    }
  }

  private logResult(action: string, result: TargetGroupResult): void {
    const { logger } = this.options;
    const fields = { targetGroup: result.targetGroupArn, target: result.target, attempts: result.attempts };
    if (result.outcome === 'failed') {
      const error = result.error!;
      logger.error({ ...fields, code: error.code, hint: error.hint }, `${action} failed: ${error.message}`);
    } else {
      logger.info({ ...fields, outcome: result.outcome }, `${action}: ${result.outcome}`);
    }
  }
}

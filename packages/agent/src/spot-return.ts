import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE, isSynktiError, rendezvousRank } from '@synkti/core';
import { listAllInstances, type InstanceProvider, type InstanceRecord } from '@synkti/cloud';
import type { Logger } from './logger.ts';

/**
 * Back to spot. A node of a spot pool that runs on-demand (a fallback launched when spot
 * had no capacity) costs 3–10× a spot node for as long as it lives: the simulator showed a
 * fleet drifting to all on-demand within a day without this. Every `intervalMs` (± 20 %)
 * such a node launches its spot successor (tagged as replacing it); when the successor is
 * ready in the membership, the node drains and terminates itself. A pool's `onDemandBase`
 * on-demand nodes are kept: among its on-demand nodes, the first `onDemandBase` by
 * rendezvous rank (every node computes the same ranking) stay.
 */

export interface SpotReturnOptions {
  cluster: string;
  role: string;
  selfId: string;
  instances: InstanceProvider;
  /** The pool's configured lifecycle and on-demand base. */
  pool: { lifecycle: 'spot' | 'on-demand'; onDemandBase: number; instanceType: string };
  userData: string;
  /** Live members as this node sees them (state and what each replaces). */
  liveMembers: () => { id: string; state: string; replaces?: string | undefined }[];
  /** Called once the successor serves: drain and leave (the runtime terminates this instance). */
  handOver: (successorId: string) => Promise<void>;
  /** @default 5 minutes */
  intervalMs?: number;
  logger: Logger;
  random?: () => number;
}

export type SpotReturnStep =
  | { kind: 'stay'; why: 'not-a-fallback' | 'on-demand-base' | 'handing-over' }
  | { kind: 'launch' }
  | { kind: 'wait'; successor: string }
  | { kind: 'hand-over'; successor: string };

/**
 * The decision, pure: given this instance, the pool's instances and the membership, what
 * to do now. Shared by the agent and usable by the simulator.
 */
export function spotReturnStep(input: {
  self: Pick<InstanceRecord, 'id' | 'lifecycle'>;
  pool: { lifecycle: 'spot' | 'on-demand'; onDemandBase: number };
  /** The pool's live on-demand instances (ids), self included. */
  onDemandIds: string[];
  cluster: string;
  role: string;
  successor: string | undefined;
  members: { id: string; state: string; replaces?: string | undefined }[];
  handingOver: boolean;
}): SpotReturnStep {
  if (input.handingOver) return { kind: 'stay', why: 'handing-over' };
  if (input.pool.lifecycle !== 'spot' || input.self.lifecycle !== 'on-demand') return { kind: 'stay', why: 'not-a-fallback' };
  const kept = rendezvousRank(`on-demand-base:${input.cluster}:${input.role}`, input.onDemandIds).slice(0, input.pool.onDemandBase);
  if (kept.includes(input.self.id)) return { kind: 'stay', why: 'on-demand-base' };
  const ready = input.members.find((m) => m.replaces === input.self.id && m.state === 'ready');
  if (ready) return { kind: 'hand-over', successor: ready.id };
  if (input.successor) return { kind: 'wait', successor: input.successor };
  return { kind: 'launch' };
}

export class SpotReturn {
  private readonly options: SpotReturnOptions;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | undefined;
  private successor: string | undefined;
  private handingOver = false;
  private attempts = 0;
  private stopped = false;
  /** Spot launches that found no capacity (for status and tests). */
  capacityMisses = 0;

  constructor(options: SpotReturnOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
  }

  get intervalMs(): number {
    return this.options.intervalMs ?? 5 * 60_000;
  }

  /**
   * Look up this instance once (one API call at boot); only an on-demand node of a spot
   * pool keeps checking, so spot nodes, the vast majority, cost the API nothing here.
   */
  async start(): Promise<void> {
    if (this.timer || this.stopped || this.options.pool.lifecycle !== 'spot') return;
    try {
      const page = await this.options.instances.list({ ids: [this.options.selfId] });
      if (page.items[0]?.lifecycle !== 'on-demand') return;
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not read this instance\'s lifecycle; assuming spot');
      return;
    }
    this.options.logger.info({ intervalMs: this.intervalMs }, 'this node is an on-demand fallback in a spot pool: it will move back to spot when capacity returns');
    const schedule = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => { void this.check().finally(schedule); }, this.intervalMs * (0.8 + 0.4 * this.random())).unref();
    };
    schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One check (the timer calls it; tests call it directly). */
  async check(): Promise<SpotReturnStep> {
    const { cluster, role, selfId, instances, logger } = this.options;
    let step: SpotReturnStep;
    try {
      const pool = await listAllInstances(instances, { tags: { [TAG_CLUSTER]: cluster, [TAG_ROLE]: role }, states: ['pending', 'running'] });
      const self = pool.find((r) => r.id === selfId);
      if (!self) return { kind: 'stay', why: 'not-a-fallback' };
      step = spotReturnStep({
        self,
        pool: this.options.pool,
        onDemandIds: pool.filter((r) => r.lifecycle === 'on-demand').map((r) => r.id),
        cluster,
        role,
        successor: this.successor,
        members: this.options.liveMembers(),
        handingOver: this.handingOver,
      });
    } catch (error) {
      logger.warn({ err: error }, 'back-to-spot check failed; will retry');
      return { kind: 'stay', why: 'not-a-fallback' };
    }
    if (step.kind === 'launch') await this.launchSuccessor();
    if (step.kind === 'hand-over') {
      this.handingOver = true;
      logger.warn({ successor: step.successor }, 'spot successor is serving: this on-demand fallback drains and leaves');
      await this.options.handOver(step.successor);
    }
    return step;
  }

  private async launchSuccessor(): Promise<void> {
    const { cluster, role, selfId, instances, pool, userData, logger } = this.options;
    this.attempts += 1;
    try {
      const record = await instances.launch({
        tags: { [TAG_CLUSTER]: cluster, [TAG_ROLE]: role, [TAG_REPLACES]: selfId },
        instanceType: pool.instanceType,
        lifecycle: 'spot',
        userData,
        // One successor per attempt, even if this agent restarts mid-launch.
        clientToken: `synkti-spot-return-${selfId}-${this.attempts}`,
      });
      if (record.lifecycle !== 'spot') {
        // The provider fell back to on-demand: that buys nothing; give it back.
        logger.warn({ instance: record.id }, 'the spot successor came up on-demand; terminating it');
        await instances.terminate([record.id]);
        this.capacityMisses += 1;
        return;
      }
      this.successor = record.id;
      logger.info({ successor: record.id }, 'spot capacity is back: launched a spot successor for this on-demand fallback');
    } catch (error) {
      if (isSynktiError(error) && /CAPACITY/.test(error.code)) {
        this.capacityMisses += 1;
        logger.info({ code: error.code }, 'still no spot capacity; staying on-demand');
        return;
      }
      logger.warn({ err: error }, 'could not launch a spot successor; will retry');
    }
  }
}

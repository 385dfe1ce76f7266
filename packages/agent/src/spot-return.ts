import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE, isSynktiError, rendezvousRank } from '@synkti/core';
import {
  listAllInstances,
  placementZoneOrder,
  spreadZoneOrder,
  zoneSpreadLimit,
  type InstanceProvider,
  type InstanceRecord,
} from '@synkti/cloud';
import type { Logger } from './logger.ts';
import { backoffCeilingMs } from '@synkti/core/backoff';
import {
  errorBudget,
  poolSettled,
  settledZones,
  type ErrorBudget,
  type HedgeLoss,
  type LossHistory,
  type SpotHedgeOptions,
} from './spot-hedge.ts';
import { TAG_SLOT_CREDIT, canAffordMove, readSlotCredit, slotCreditMs, successorCreditMs } from './spot-ledger.ts';

/**
 * Back to spot. A node of a spot pool that runs on-demand (a fallback launched when spot
 * had no capacity) costs 3–10× a spot node for as long as it lives: the simulator showed a
 * fleet drifting to all on-demand within a day without this. Every `intervalMs` (± 20 %)
 * such a node launches its spot successor (tagged as replacing it); when the successor is
 * ready in the membership, the node drains and terminates itself. A pool's `onDemandBase`
 * on-demand nodes are kept: among its on-demand nodes, the first `onDemandBase` by
 * rendezvous rank (every node computes the same ranking) stay.
 *
 * No orphan: the node waits only while an instance that replaces it is alive. A successor
 * preempted (or crashed) before the hand-over launches its own replacement tagged as
 * replacing this node (Replacer's duty rule), so the hand-over comes from that one; if
 * none is left, the next check launches another successor. The node is never left
 * waiting for a dead successor (the simulator showed that leak at 184–580 % of on-demand).
 */

export interface SpotReturnOptions {
  cluster: string;
  role: string;
  selfId: string;
  instances: InstanceProvider;
  /** The pool's configured lifecycle and on-demand base. */
  pool: { lifecycle: 'spot' | 'on-demand'; onDemandBase: number; instanceType: string };
  /** What the successor boots with; a function is read at each launch (a rollout's desired config can change it). */
  userData: string | (() => string);
  /**
   * The pool's zones: the successor's launch then carries a zone order (placementZoneOrder:
   * the zones holding the fewest of the pool first). @default none: the provider's rotation
   */
  zones?: readonly string[] | undefined;
  /** The pool's recent losses this node saw (zone, epoch ms): such zones are tried last. @default none */
  recentLosses?: () => readonly HedgeLoss[];
  /** The pool's losses over the error budget's week (ZoneExposure.lossHistory): the hedge spends what they leave. @default none */
  lossHistory?: (() => LossHistory) | undefined;
  /** Each zone's loss rate per exposed hour (zone-hazard.ts; placement's tiers). @default none */
  zoneHazard?: ((zones: readonly string[], now: number) => Readonly<Record<string, number>>) | undefined;
  /** Live members as this node sees them (state, what each replaces, zone and role when known). */
  liveMembers: () => { id: string; state: string; replaces?: string | undefined; zone?: string | undefined; role?: string | undefined }[];
  /** Called once the successor serves: drain and leave (the runtime terminates this instance). */
  handOver: (successorId: string) => Promise<void>;
  /** @default 5 minutes */
  intervalMs?: number;
  /**
   * The capacity-aware hedge (spot-hedge.ts): no successor is launched while every zone's
   * recent losses exceed the availability budget. @default on, objective 0.99, 183 s, ratio 0.3
   */
  hedge?: SpotHedgeOptions | undefined;
  logger: Logger;
  random?: () => number;
  /**
   * This instance's cloud record, read once at boot by the runtime (which needs it for the
   * slot ledger too): start() uses it instead of its own lookup. @default one list call
   */
  selfRecord?: (() => Promise<InstanceRecord | undefined>) | undefined;
}

export type SpotReturnStep =
  | { kind: 'stay'; why: 'not-a-fallback' | 'on-demand-base' | 'handing-over' | 'backing-off' | 'zones-unsettled' | 'no-credit' }
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
  /**
   * Instances alive now (pending or running in the cloud) that replace this one: the
   * successor it launched, or the replacement of a successor lost before the hand-over.
   * A dead successor must not be listed: waiting for it is the orphan this rule prevents.
   */
  successors: readonly string[];
  members: readonly { id: string; state: string; replaces?: string | undefined }[];
  handingOver: boolean;
  /**
   * Successors launched so far that never took over, and when the last was: each one
   * lost before serving doubles the wait before the next (spotReturnBackoffMs), so a zone
   * whose capacity flickers cannot bill more spot launches than the move saves.
   */
  backoff?: { attempts: number; lastAttemptAt: number; now: number; intervalMs: number } | undefined;
  /**
   * The pool's zones still worth spot (settledZones: recent losses within the availability
   * budget, the same 12 h window placement uses). Empty: no successor now; a successor
   * lost right after it took over is such a loss, so the next move waits for its zone to
   * settle. @default every zone settled
   */
  settledZones?: readonly string[] | undefined;
  /**
   * The pool-wide hedge (poolSettled): false when the pool's serving losses in the window,
   * across its zones, exceed the availability budget; then no fallback moves. @default true
   */
  poolSettled?: boolean | undefined;
  /**
   * The slot ledger (spot-ledger.ts): this node's slot credit now, and the hedge settings it
   * is priced with. A move is made only when the credit covers its worst case
   * (canAffordMove), so the pool's cost never runs more than one move per replica ahead of
   * on-demand's. @default no ledger
   */
  ledger?: { creditMs: number; options: SpotHedgeOptions } | undefined;
}): SpotReturnStep {
  if (input.handingOver) return { kind: 'stay', why: 'handing-over' };
  if (input.pool.lifecycle !== 'spot' || input.self.lifecycle !== 'on-demand') return { kind: 'stay', why: 'not-a-fallback' };
  const kept = rendezvousRank(`on-demand-base:${input.cluster}:${input.role}`, input.onDemandIds).slice(0, input.pool.onDemandBase);
  if (kept.includes(input.self.id)) return { kind: 'stay', why: 'on-demand-base' };
  const ready = input.members.find((m) => m.replaces === input.self.id && m.state === 'ready');
  if (ready) return { kind: 'hand-over', successor: ready.id };
  if (input.successors.length > 0) return { kind: 'wait', successor: input.successors[0]! };
  const b = input.backoff;
  if (b && b.attempts > 0 && b.now - b.lastAttemptAt < spotReturnBackoffMs(b.intervalMs, b.attempts))
    return { kind: 'stay', why: 'backing-off' };
  if (input.poolSettled === false || (input.settledZones !== undefined && input.settledZones.length === 0))
    return { kind: 'stay', why: 'zones-unsettled' };
  if (input.ledger && !canAffordMove(input.ledger.creditMs, input.ledger.options)) return { kind: 'stay', why: 'no-credit' };
  return { kind: 'launch' };
}

/** Wait after `attempts` successors that never took over: the interval, doubled per loss, at most 1 hour. */
export function spotReturnBackoffMs(intervalMs: number, attempts: number): number {
  if (attempts <= 0) return 0;
  return backoffCeilingMs(attempts - 1, { baseMs: intervalMs, capMs: 60 * 60_000 });
}

/** The client token of one back-to-spot attempt: one successor per attempt, even if the agent restarts mid-launch. */
export function spotReturnClientToken(selfId: string, attempt: number): string {
  return `synkti-spot-return-${selfId}-${attempt}`;
}

export class SpotReturn {
  private readonly options: SpotReturnOptions;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** The last successor launched, and when: listing can lag a launch by a few seconds. */
  private successor: { id: string; at: number } | undefined;
  private handingOver = false;
  private attempts = 0;
  /** Spot successors launched (none took over yet: this node is still here) and when the last was. */
  private launched = 0;
  private lastLaunchAt = 0;
  private stopped = false;
  /** Spot launches that found no capacity (for status and tests). */
  capacityMisses = 0;
  /** This node's slot-credit tag was rejected and said so (once). */
  private rejectedTagLogged = false;

  /** The week's error budget as this node sees it (undefined: no loss history given). */
  private budget(): ErrorBudget | undefined {
    const history = this.options.lossHistory?.();
    return history && errorBudget({ ...history, now: Date.now(), ...this.options.hedge });
  }

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
      const self = this.options.selfRecord
        ? await this.options.selfRecord()
        : (await this.options.instances.list({ ids: [this.options.selfId] })).items[0];
      if (self?.lifecycle !== 'on-demand') return;
    } catch (error) {
      this.options.logger.warn({ err: error }, "could not read this instance's lifecycle; assuming spot");
      return;
    }
    this.options.logger.info(
      { intervalMs: this.intervalMs },
      'this node is an on-demand fallback in a spot pool: it will move back to spot when capacity returns',
    );
    const schedule = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(
        () => {
          void this.check().finally(schedule);
        },
        this.intervalMs * (0.8 + 0.4 * this.random()),
      ).unref();
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
    let credit: number | undefined;
    try {
      const pool = await listAllInstances(instances, {
        tags: { [TAG_CLUSTER]: cluster, [TAG_ROLE]: role },
        states: ['pending', 'running'],
      });
      const self = pool.find((r) => r.id === selfId);
      if (!self) return { kind: 'stay', why: 'not-a-fallback' };
      const successors = pool.filter((r) => r.tags[TAG_REPLACES] === selfId).map((r) => r.id);
      // Just launched and not listed yet (eventual consistency): still ours to wait for.
      if (this.successor && !successors.includes(this.successor.id) && Date.now() - this.successor.at < this.intervalMs / 2)
        successors.push(this.successor.id);
      credit = this.creditOf(self);
      step = spotReturnStep({
        self,
        pool: this.options.pool,
        onDemandIds: pool.filter((r) => r.lifecycle === 'on-demand').map((r) => r.id),
        cluster,
        role,
        successors,
        members: this.options.liveMembers(),
        handingOver: this.handingOver,
        // Capacity misses launch nothing and cost nothing: only launched successors count.
        backoff: { attempts: this.launched, lastAttemptAt: this.lastLaunchAt, now: Date.now(), intervalMs: this.intervalMs },
        settledZones:
          this.options.zones && this.options.zones.length > 0
            ? settledZones({
                zones: this.options.zones,
                losses: this.options.recentLosses?.(),
                now: Date.now(),
                budget: this.budget(),
                ...this.options.hedge,
              })
            : undefined,
        poolSettled: poolSettled({ losses: this.options.recentLosses?.(), now: Date.now(), budget: this.budget(), ...this.options.hedge }),
        ledger: { creditMs: credit, options: this.options.hedge ?? {} },
      });
    } catch (error) {
      logger.warn({ err: error }, 'back-to-spot check failed; will retry');
      return { kind: 'stay', why: 'not-a-fallback' };
    }
    if (step.kind === 'launch') await this.launchSuccessor(credit);
    if (step.kind === 'hand-over') {
      this.handingOver = true;
      logger.warn({ successor: step.successor }, 'spot successor is serving: this on-demand fallback drains and leaves');
      await this.options.handOver(step.successor);
    }
    return step;
  }

  /**
   * This on-demand node's slot credit: its tag in the cloud's record (readSlotCredit: no tag
   * is a new slot's credit, a forged or garbage one zero, said once), less a move's worst
   * case per successor it launched, plus the 1 % an on-demand holder earns.
   */
  private creditOf(self: Pick<InstanceRecord, 'tags' | 'launchedAt'>): number {
    const hedge = this.options.hedge ?? {};
    const read = readSlotCredit(self.tags[TAG_SLOT_CREDIT], hedge);
    if (read.rejected && !this.rejectedTagLogged) {
      this.rejectedTagLogged = true;
      // The value itself is not logged: it is whatever the tag's writer chose.
      this.options.logger.warn(
        { tag: TAG_SLOT_CREDIT, why: read.rejected },
        "this node's slot-credit tag is not one an agent writes; its slot counts zero credit",
      );
    }
    return slotCreditMs({
      tagCreditMs: read.creditMs,
      lifecycle: 'on-demand',
      launchedAt: self.launchedAt,
      readyAt: undefined,
      now: Date.now(),
      movesLaunched: this.launched,
      ...hedge,
    });
  }

  private async launchSuccessor(creditMs: number | undefined): Promise<void> {
    const { cluster, role, selfId, instances, pool, userData, logger } = this.options;
    this.attempts += 1;
    const clientToken = spotReturnClientToken(selfId, this.attempts);
    try {
      const record = await instances.launch({
        // The slot's credit less the move's worst case, reserved now (spot-ledger.ts).
        tags: {
          [TAG_CLUSTER]: cluster,
          [TAG_ROLE]: role,
          [TAG_REPLACES]: selfId,
          ...(creditMs === undefined ? {} : { [TAG_SLOT_CREDIT]: String(successorCreditMs(creditMs, this.options.hedge)) }),
        },
        instanceType: pool.instanceType,
        lifecycle: 'spot',
        userData: typeof userData === 'function' ? userData() : userData,
        // One successor per attempt, even if this agent restarts mid-launch.
        clientToken,
        zoneOrder: placementZoneOrder({
          zones: this.options.zones,
          members: this.options.liveMembers(),
          role,
          leaving: selfId,
          key: clientToken,
          losses: this.options.recentLosses?.(),
          now: Date.now(),
          hazard: this.options.zones && this.options.zoneHazard?.(this.options.zones, Date.now()),
        }),
      });
      if (record.lifecycle !== 'spot') {
        // The provider fell back to on-demand: that buys nothing; give it back.
        logger.warn({ instance: record.id }, 'the spot successor came up on-demand; terminating it');
        await instances.terminate([record.id]);
        this.capacityMisses += 1;
        return;
      }
      this.successor = { id: record.id, at: Date.now() };
      this.launched += 1;
      this.lastLaunchAt = Date.now();
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

export type SpreadMoveStep = { kind: 'stay' } | { kind: 'move'; zone: string };

/**
 * Spread, restored: after an outage every replica may have landed in the one zone that had
 * capacity, and one reclaim there takes them all. A spot node in a zone holding more than
 * ⌈N/Z⌉ (Z: zones with capacity) moves when it ranks among that zone's excess (rendezvous,
 * the same answer on every node) and a zone with room exists: it launches a successor
 * there and hands over once it serves, the back-to-spot machinery. Pure.
 */
export function spreadMoveStep(input: {
  self: { id: string; zone: string; lifecycle: 'spot' | 'on-demand' };
  /** The pool's members: serving (`ready`), booting (`joining`), and what each replaces. */
  members: readonly { id: string; state: string; zone: string; lifecycle: 'spot' | 'on-demand'; replaces?: string | undefined }[];
  /** Zones a spot launch could land in now (configured zones without a recent capacity miss). */
  zonesWithCapacity: readonly string[];
  /** Replicas the pool wants. */
  target: number;
  /** Spread over at most this many zones (⌈N/min(Z, maxZones)⌉ per zone). @default Infinity */
  maxZones?: number | undefined;
}): SpreadMoveStep {
  const { self, members } = input;
  if (self.lifecycle !== 'spot' || input.zonesWithCapacity.length < 2) return { kind: 'stay' };
  // Held per zone: serving or booting spot members (a booting successor counts where it lands).
  const held: Record<string, number> = {};
  const moving = new Set(members.filter((m) => m.replaces !== undefined && m.state !== 'draining').map((m) => m.replaces!));
  for (const m of members) {
    if (m.lifecycle !== 'spot' || (m.state !== 'ready' && m.state !== 'joining') || moving.has(m.id)) continue;
    held[m.zone] = (held[m.zone] ?? 0) + 1;
  }
  if (moving.has(self.id)) return { kind: 'stay' };
  const limit = zoneSpreadLimit(input.target, Math.min(input.maxZones ?? Infinity, input.zonesWithCapacity.length));
  const excess = (held[self.zone] ?? 0) - limit;
  if (excess <= 0) return { kind: 'stay' };
  const candidates = members
    .filter((m) => m.zone === self.zone && m.lifecycle === 'spot' && m.state === 'ready' && !moving.has(m.id))
    .map((m) => m.id);
  if (!rendezvousRank(`spread:${self.zone}`, candidates).slice(0, excess).includes(self.id)) return { kind: 'stay' };
  const destination = spreadZoneOrder({ zones: input.zonesWithCapacity.filter((z) => z !== self.zone), held, key: `spread:${self.id}` })[0];
  if (destination === undefined || (held[destination] ?? 0) + 1 > limit) return { kind: 'stay' };
  return { kind: 'move', zone: destination };
}

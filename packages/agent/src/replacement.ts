import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE, rendezvousPick, isSynktiError } from '@synkti/core';
import { listAllInstances, placementZoneOrder, type InstanceProvider, type InstanceRecord, type Lifecycle } from '@synkti/cloud';
import type { Logger } from './logger.ts';
import { errorBudget, settledZones, type ErrorBudget, type LossHistory, type SpotHedgeOptions } from './spot-hedge.ts';
import { TAG_SLOT_CREDIT, readSlotCredit, replacementCredit, slotCreditMs } from './spot-ledger.ts';

/** The lost peer is in the view again: check later, without calling the cloud. */
class PeerBack extends Error {}

/** What a replacement needs to look like the instance it replaces. */
export interface ReplacementTemplate {
  role: string;
  instanceType: string;
  lifecycle: Lifecycle;
  userData: string;
  /**
   * The pool's zones: with them the launch carries a zone order (placementZoneOrder: the
   * zones holding the fewest of the pool first, the notice's zone last). @default none: the
   * provider's own rotation
   */
  zones?: readonly string[] | undefined;
  /** The pool's spot hedge settings (the config's `pools.<role>.spotHedge`). @default ReplacerOptions.hedge */
  hedge?: SpotHedgeOptions | undefined;
}

export interface ReplacerOptions {
  cluster: string;
  instances: InstanceProvider;
  selfId: string;
  /** The live members this node currently sees (itself included), with their state when known. */
  liveMembers: () => DutyMember[];
  /** How to launch a replacement for a given role (instance type, user data, ...). */
  templateFor: (role: string) => ReplacementTemplate | undefined;
  /**
   * How long to wait before re-checking that a lost peer was replaced by whoever was
   * chosen (if that node died too, the next one takes over). @default 5000
   */
  recheckMs?: number;
  /** Stop watching a loss after this long (its replacement never joined). @default 15 minutes */
  giveUpMs?: number;
  logger: Logger;
  onLaunched?: (replacement: InstanceRecord, replaces: string) => void;
  /**
   * The pool's recent losses this node saw (zone and time of each notice or crash): a
   * zone that lost instances recently is tried after the others (placementZoneOrder).
   * @default none
   */
  recentLosses?: () => readonly { zone: string; at: number }[];
  /** @default Date.now */
  clock?: () => number;
  /**
   * The capacity-aware hedge (spot-hedge.ts): a spot pool's replacement goes on-demand
   * when no zone is settled (every zone's recent losses exceed the availability budget).
   * Needs `recentLosses` and the template's `zones`. @default on, objective 0.99, 183 s, ratio 0.3
   */
  hedge?: SpotHedgeOptions | undefined;
  /**
   * The pool's losses over the error budget's week and since when they were watched
   * (ZoneExposure.lossHistory): the hedge spends the budget they leave (errorBudget).
   * @default none: the short window alone
   */
  lossHistory?: (() => LossHistory) | undefined;
  /**
   * The slot credit (spot-ledger.ts) an instance holds now, when this node knows it (its
   * own, from its tags, launch and ready time); a replacement goes spot only when the credit
   * covers its notice, and carries what is left as its TAG_SLOT_CREDIT. Unknown for a lost
   * peer: its cloud record's tag is used (readSlotCredit: missing is a new slot's, forged is
   * zero), without its savings (conservative). @default none: the tag of the lost instance's
   * record when the decision has it, else no ledger
   */
  slotCredit?: ((id: string) => number | undefined) | undefined;
  /**
   * Each zone's loss rate per exposed hour (zone-hazard.ts): placement keeps to the zones
   * within a factor 2 of the best rate before flakier ones. @default none
   */
  zoneHazard?: ((zones: readonly string[], now: number) => Readonly<Record<string, number>>) | undefined;
}

/** A member as the duty rule needs it: who it replaces, and whether it serves (`ready`). */
export interface DutyMember {
  id: string;
  replaces?: string | undefined;
  state?: string | undefined;
  /** Where it runs and its pool, for placement (the view has both). */
  zone?: string | undefined;
  role?: string | undefined;
  lifecycle?: Lifecycle | undefined;
}

/**
 * Whose duty the replacement of `lostId` carries (the id it is tagged as replacing).
 * Normally the lost instance's own. But an instance whose predecessor still serves never
 * took that duty over: an on-demand fallback's spot successor that gets its notice (or
 * crashes) before the hand-over. Its replacement then replaces the predecessor, so the
 * predecessor hands over to it when it serves. Tagging it as replacing the dead successor
 * left the on-demand node waiting forever for a hand-over that could not come (the
 * simulator's leak: 580 % of on-demand's cost, 32 instances held for a target of 4).
 * Pure; follows the chain while the predecessor is a ready member (bounded by the view).
 */
export function replacementDuty(input: { lostId: string; lostReplaces: string | undefined; members: readonly DutyMember[] }): string {
  const byId = new Map(input.members.map((m) => [m.id, m]));
  let holder = input.lostId;
  let predecessor = input.lostReplaces ?? byId.get(input.lostId)?.replaces;
  const seen = new Set([holder]);
  while (predecessor !== undefined && !seen.has(predecessor)) {
    const member = byId.get(predecessor);
    if (!member || member.state !== 'ready') break;
    holder = predecessor;
    seen.add(holder);
    predecessor = member.replaces;
  }
  return holder;
}

/**
 * Whether a lost successor hands its duty back instead of being replaced: its predecessor
 * still serves (replacementDuty named it) and is an on-demand fallback, whose back-to-spot
 * check (SpotReturn) launches the next successor itself, after its back-off and the hedge.
 * Replacing the lost successor instead retried at once, outside both, and when spot had no
 * room its replacement came up on-demand: an on-demand instance booting beside the
 * on-demand one it was to relieve (the simulator: 1.7 % above on-demand's cost on a
 * one-day window). A spot predecessor (an early replacement at a rebalance, a zone move)
 * keeps the chain: nothing else would retry for it. Pure.
 */
export function handsDutyBack(input: { lostId: string; duty: string; dutyLifecycle: Lifecycle | undefined }): boolean {
  return input.duty !== input.lostId && input.dutyLifecycle === 'on-demand';
}

/**
 * The lifecycle of a replacement: the pool's, except that a spot pool's replacement goes
 * on-demand when none of its zones is settled (spot-hedge.ts). Pure; the simulator's
 * survivor path calls it too.
 */
export function replacementLifecycle(input: {
  template: Pick<ReplacementTemplate, 'lifecycle' | 'zones'>;
  losses: readonly { zone: string; at: number }[] | undefined;
  now: number;
  hedge?: SpotHedgeOptions | undefined;
  /** The week's error budget (spot-hedge.ts errorBudget). @default none: the short window alone */
  budget?: ErrorBudget | undefined;
}): Lifecycle {
  const { template } = input;
  if (template.lifecycle !== 'spot' || !template.zones || template.zones.length === 0) return template.lifecycle;
  return settledZones({ zones: template.zones, losses: input.losses, now: input.now, budget: input.budget, ...input.hedge }).length === 0
    ? 'on-demand'
    : 'spot';
}

/**
 * One replacement per lost instance, launched by exactly one node with no coordinator:
 * - the deciding node is the rendezvous winner for `replace:<lost id>` over the live
 *   membership, so every survivor reaches the same answer alone;
 * - the launch carries the client token `synkti-replace-<lost id>`, so even two nodes
 *   whose views briefly differ (or an agent that restarts mid-launch) get the same
 *   instance back instead of a second one;
 * - a survivor that was not chosen re-checks later and takes over if the chosen node
 *   died too, so no loss goes unreplaced.
 */
export class Replacer {
  private readonly options: ReplacerOptions;
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly done = new Set<string>();
  /** The zone order and lifecycle each launch used: a retry with the same token must ask for the same. */
  private readonly plans = new Map<
    string,
    { zoneOrder: readonly string[] | undefined; lifecycle: Lifecycle; creditTag: string | undefined }
  >();
  /** Instances whose slot-credit tag was rejected and logged (once each; bounded). */
  private readonly rejectedCreditTags = new Set<string>();
  private stopped = false;

  constructor(options: ReplacerOptions) {
    this.options = options;
  }

  static clientToken(lostId: string): string {
    return `synkti-replace-${lostId}`;
  }

  /**
   * Launch our own replacement at once (we have an interruption notice, or a rebalance
   * recommendation). If we are a successor whose predecessor still serves, the
   * replacement carries the predecessor's duty (see replacementDuty).
   */
  async replaceSelf(role: string): Promise<InstanceRecord | undefined> {
    const { selfId } = this.options;
    const members = this.options.liveMembers();
    // Already being replaced (a move to another zone, or back to spot, under way): that
    // successor takes over; a second one would be a replica too many, for good.
    const successor = members.find((m) => m.replaces === selfId && m.id !== selfId && m.state !== 'draining' && m.state !== 'stopped');
    if (successor) {
      this.options.logger.info({ successor: successor.id }, 'a successor of this node is already on its way; no second replacement');
      return undefined;
    }
    const duty = replacementDuty({ lostId: selfId, lostReplaces: undefined, members });
    if (duty !== selfId) {
      // The view knows the lifecycle in the simulator; the agent asks the cloud (one call, only here).
      const holder = members.find((m) => m.id === duty)?.lifecycle ?? (await this.lookup(duty))?.lifecycle;
      if (handsDutyBack({ lostId: selfId, duty, dutyLifecycle: holder })) {
        this.options.logger.info(
          { predecessor: duty },
          'successor lost before the hand-over: the on-demand predecessor still serves and keeps its duty (its back-to-spot check retries, with back-off)',
        );
        return undefined;
      }
    }
    // Our own zone is the one at risk (a notice or a rebalance recommendation came from it).
    return this.launch(selfId, role, duty, members.find((m) => m.id === selfId)?.zone);
  }

  /** A lost peer is back in the view (it refuted, or restarted): stop watching it. */
  peerBack(id: string): void {
    const timer = this.pending.get(id);
    if (timer) clearTimeout(timer);
    this.pending.delete(id);
  }

  /** A peer vanished without leaving gracefully: replace it if we are the chosen one. */
  peerLost(lostId: string, role: string): void {
    if (this.stopped || this.done.has(lostId) || this.pending.has(lostId)) return;
    void this.decide(lostId, role, Date.now());
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  /**
   * Only the chosen node calls the cloud (keeps the API budget flat however many nodes
   * saw the loss); the others just watch for the replacement to join the membership.
   */
  private async decide(lostId: string, role: string, since: number): Promise<void> {
    const { logger } = this.options;
    let noCapacity = false;
    try {
      if (this.stopped || this.done.has(lostId)) return;
      const members = this.options.liveMembers();
      if (members.some((m) => m.replaces === lostId)) {
        this.done.add(lostId);
        return;
      }
      // Back in our view (it refuted, or restarted): no cloud call; peerBack ends the watch
      // when the membership says it rejoined, a later loss starts a new one (issue 17).
      if (members.some((m) => m.id === lostId)) throw new PeerBack();
      const candidates = members.map((m) => m.id).filter((id) => id !== lostId);
      const chosen = rendezvousPick(`replace:${lostId}`, candidates, 1)[0];
      if (chosen === this.options.selfId) {
        const existing = await this.existingReplacement(lostId);
        if (existing) {
          logger.info({ lost: lostId, replacement: existing.id }, 'lost peer already has a replacement');
          this.done.add(lostId);
          return;
        }
        const record = await this.lookup(lostId);
        // The cloud's record decides (issue 17): only an instance the cloud knows, of this
        // cluster, is replaced. A member that gossip alone named (never launched) is not.
        if (!record || (record.tags[TAG_CLUSTER] !== undefined && record.tags[TAG_CLUSTER] !== this.options.cluster)) {
          logger.warn({ lost: lostId }, "lost member is not an instance of this cluster in the cloud's record; not replacing it");
          this.done.add(lostId);
          return;
        }
        if (record.state === 'pending' || record.state === 'running') {
          logger.warn({ lost: lostId }, 'peer is silent but its instance is still running; checking again before replacing it');
        } else {
          // A successor lost before its hand-over: the duty is its predecessor's (the cloud's tag says whose).
          const duty = replacementDuty({ lostId, lostReplaces: record?.tags[TAG_REPLACES], members });
          if (duty !== lostId && members.some((m) => m.replaces === duty)) {
            logger.info({ lost: lostId, duty }, "lost successor's duty already has a replacement");
            this.done.add(lostId);
            return;
          }
          if (
            duty !== lostId &&
            handsDutyBack({
              lostId,
              duty,
              dutyLifecycle: members.find((m) => m.id === duty)?.lifecycle ?? (await this.lookup(duty))?.lifecycle,
            })
          ) {
            logger.info(
              { lost: lostId, predecessor: duty },
              'successor lost before the hand-over: the on-demand predecessor still serves and keeps its duty',
            );
            this.done.add(lostId);
            return;
          }
          // Its savings are unknown here (when it served): only its tag counts, conservatively.
          const credit = this.options.slotCredit?.(lostId) ?? this.tagCredit(record, role);
          await this.launch(lostId, role, duty, record?.zone, credit);
          return;
        }
      }
    } catch (error) {
      noCapacity = isSynktiError(error) && /CAPACITY/.test(error.code);
      if (!(error instanceof PeerBack))
        logger.warn(
          { err: error, lost: lostId },
          noCapacity ? 'no capacity for the replacement; retrying every minute' : 'replacement decision failed; will retry',
        );
    }
    // No capacity anywhere is not a replacement that never joined: giving up would shrink
    // the fleet for good (the simulator, on-demand short: 0.3 % availability); keep trying.
    if (this.stopped || (!noCapacity && Date.now() - since > (this.options.giveUpMs ?? 15 * 60_000))) return;
    const timer = setTimeout(
      () => {
        this.pending.delete(lostId);
        void this.decide(lostId, role, since);
      },
      noCapacity ? Math.max(60_000, this.options.recheckMs ?? 5000) : (this.options.recheckMs ?? 5000),
    ).unref();
    this.pending.set(lostId, timer);
  }

  private async existingReplacement(lostId: string): Promise<InstanceRecord | undefined> {
    const found = await listAllInstances(this.options.instances, {
      tags: { [TAG_CLUSTER]: this.options.cluster, [TAG_REPLACES]: lostId },
      states: ['pending', 'running', 'shutting-down', 'terminated'],
    });
    return found[0];
  }

  /** The instance's cloud record in any state (its state and its SynktiReplaces tag). */
  private async lookup(id: string): Promise<InstanceRecord | undefined> {
    const found = await listAllInstances(this.options.instances, {
      ids: [id],
      states: ['pending', 'running', 'shutting-down', 'terminated'],
    });
    return found[0];
  }

  private templateHedge(role: string): SpotHedgeOptions {
    return this.options.templateFor(role)?.hedge ?? this.options.hedge ?? {};
  }

  /** A lost instance's slot credit from its cloud record's tag; a forged or garbage tag counts zero, logged once. */
  private tagCredit(record: InstanceRecord, role: string): number {
    const hedge = this.templateHedge(role);
    const read = readSlotCredit(record.tags[TAG_SLOT_CREDIT], hedge);
    if (read.rejected && !this.rejectedCreditTags.has(record.id)) {
      if (this.rejectedCreditTags.size >= 1000) this.rejectedCreditTags.clear();
      this.rejectedCreditTags.add(record.id);
      // The value itself is not logged: it is whatever the tag's writer chose.
      this.options.logger.warn(
        { instance: record.id, tag: TAG_SLOT_CREDIT, why: read.rejected },
        'slot-credit tag is not one an agent writes; its slot counts zero credit',
      );
    }
    return slotCreditMs({
      tagCreditMs: read.creditMs,
      lifecycle: record.lifecycle,
      launchedAt: record.launchedAt,
      readyAt: undefined,
      now: (this.options.clock ?? Date.now)(),
      ...hedge,
    });
  }

  /**
   * Launches the replacement of `lostId`, tagged as replacing `duty` (the lost instance
   * itself, or the predecessor whose duty it carried). The client token stays the lost
   * instance's: its rebalance and its notice launch one instance, not two.
   */
  private async launch(
    lostId: string,
    role: string,
    duty: string = lostId,
    avoidZone?: string,
    creditMs?: number,
  ): Promise<InstanceRecord | undefined> {
    const template = this.options.templateFor(role);
    if (!template) {
      this.options.logger.warn({ lost: lostId, role }, 'no pool for this role in the cluster config; not replacing');
      return undefined;
    }
    const clientToken = Replacer.clientToken(lostId);
    let plan = this.plans.get(lostId);
    if (!plan) {
      const hedge = template.hedge ?? this.options.hedge;
      const credit = creditMs ?? this.options.slotCredit?.(lostId);
      if (this.plans.size >= 1000) this.plans.delete(this.plans.keys().next().value!);
      const losses = this.options.recentLosses?.();
      const now = (this.options.clock ?? Date.now)();
      const history = this.options.lossHistory?.();
      const budget = history && errorBudget({ ...history, now, ...hedge });
      const wanted = replacementLifecycle({ template, losses, now, hedge, budget });
      // The ledger: spot only when the slot's credit covers the replacement's own notice.
      const ledger = credit === undefined ? undefined : replacementCredit({ creditMs: credit, lifecycle: wanted, ...hedge });
      plan = {
        zoneOrder: placementZoneOrder({
          zones: template.zones,
          members: this.options.liveMembers(),
          role,
          leaving: lostId,
          avoidZone,
          key: clientToken,
          losses,
          now,
          hazard: template.zones && this.options.zoneHazard?.(template.zones, now),
        }),
        lifecycle: ledger?.lifecycle ?? wanted,
        creditTag: ledger === undefined ? undefined : String(ledger.tagCreditMs),
      };
      this.plans.set(lostId, plan);
    }
    if (plan.lifecycle !== template.lifecycle)
      this.options.logger.warn(
        { lost: lostId },
        "the replacement goes on-demand: every zone of the pool lost instances beyond the availability budget recently, or the slot's credit does not cover a spot notice",
      );
    const record = await this.options.instances.launch({
      tags: {
        [TAG_CLUSTER]: this.options.cluster,
        [TAG_ROLE]: role,
        [TAG_REPLACES]: duty,
        ...(plan.creditTag === undefined ? {} : { [TAG_SLOT_CREDIT]: plan.creditTag }),
      },
      instanceType: template.instanceType,
      lifecycle: plan.lifecycle,
      userData: template.userData,
      clientToken,
      zoneOrder: plan.zoneOrder,
    });
    this.done.add(lostId);
    this.options.logger.info(
      { replaces: duty, lost: lostId, replacement: record.id },
      duty === lostId
        ? 'replacement launched'
        : 'replacement launched; it carries the duty of the predecessor the lost successor never took over',
    );
    this.options.onLaunched?.(record, duty);
    return record;
  }
}

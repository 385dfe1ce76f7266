import {
  TAG_SLOT_CREDIT,
  ZoneExposure,
  initialSlotCreditMs,
  readSlotCredit,
  replacementCredit,
  slotCreditMs,
  successorCreditMs,
  type SlotLedgerOptions,
} from '@synkti/agent';
import {
  Replacer,
  errorBudget,
  handsDutyBack,
  replacementDuty,
  replacementLifecycle,
  settledZones,
  poolSettled,
  spotReturnClientToken,
  spotReturnStep,
  spreadMoveStep,
  type ReplacerOptions,
  type HedgeLoss,
  type SpotHedgeOptions,
  type SpotReturnStep,
  type ErrorBudget,
} from '@synkti/agent';
import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import {
  LOSS_MEMORY_MS,
  placementZoneOrder,
  type InstanceFilter,
  type InstanceProvider,
  type InstanceRecord,
  type LaunchSpec,
  type Page,
} from '@synkti/cloud';
import type { Policy, PolicyContext, SimInstance } from '../policy.ts';
import { spreadZones } from './placement.ts';

export interface SynktiPolicyOptions {
  /** Launch the replacement at a rebalance recommendation, before the notice (the agent's `serve.replaceOnRebalance`). @default true */
  replaceOnRebalance?: boolean;
  /** Replicas kept beyond the target (a pool `count` above what the service needs). @default 0 */
  spare?: number;
  /** Fall back to on-demand when no zone has spot capacity (the AWS provider's `onDemandFallback`). @default true */
  onDemandFallback?: boolean;
  /**
   * Move on-demand fallbacks back to spot: every `controlIntervalMs`, an on-demand node
   * that sees spot capacity launches its spot successor (Replacer.replaceSelf), and drains
   * and terminates once the successor is ready. NOT in the agent yet (the agent never
   * leaves an on-demand fallback); off reproduces the agent as it is. @default true
   */
  returnToSpot?: boolean;
  /**
   * Route to draining replicas when no ready one is left (they serve until terminated).
   * NOT in the agent's router yet: it cuts a draining node at t=0. @default false
   */
  lastResortDraining?: boolean;
  /**
   * Restore the zone spread: a spot replica in a zone holding more than ⌈N/Z⌉ (Z: zones
   * with capacity) launches a successor in the emptiest zone and hands over once it
   * serves (the agent's `spreadMoveStep`). Off by default: on the shipped trace it halves
   * failed requests (0.299 % → 0.144 %) but lowers the share of time with all N ready
   * (99.39 % → 96.19 %; 98.62 % with `spreadMaxZones: 2`), since spread replicas sit in
   * flakier zones and see 3× the preemptions. @default false
   */
  spreadMoves?: boolean;
  /** With `spreadMoves`: spread over at most this many zones. @default Infinity */
  spreadMaxZones?: number;
  /**
   * The agent's capacity-aware hedge (spot-hedge.ts), as the agent is configured: launch
   * delay and price ratio are the world's unless given. `{ enabled: false }` is the agent
   * before the hedge. @default on, objective 0.99
   */
  hedge?: SpotHedgeOptions;
  /** Policy name in results. @default 'synkti' */
  name?: string;
}

/** How often an on-demand fallback looks for spot capacity again. */
export const RETURN_TO_SPOT_CHECK_MS = 60_000;
/**
 * How often the survivors re-check a loss whose replacement could not be launched (the
 * agent's recheck is seconds; a failed launch costs nothing, a minute keeps runs fast).
 */
const LOSS_RECHECK_MS = 60_000;
/** Grace for in-flight requests between draining an on-demand node and terminating it. */
const HANDOVER_GRACE_MS = 60_000;

const CLUSTER = 'sim';
const ROLE = 'serve';

/** Logger the agent's Replacer accepts; the simulator keeps no logs. */
const silentLogger = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  trace() {},
  fatal() {},
  child() {
    return silentLogger;
  },
} as unknown as ReplacerOptions['logger'];

/**
 * Synkti's policy, as the agent runs it: at the interruption notice a node drains (out of
 * routing at t=0) and launches its own replacement through the agent's `Replacer`
 * (@synkti/agent), idempotent by client token `synkti-replace-<id>`, so a rebalance
 * recommendation followed by the notice launches one instance, not two. The replacement's
 * zone is chosen the way the sim's instance provider places it: spread over zones with
 * capacity, ties broken by rendezvous rank of the client token (@synkti/core).
 */
/** A simulated instance as a member of the agents' view: ready, draining (notice or hand-over), or joining. */
function memberState(i: SimInstance): string {
  return i.draining ? 'draining' : i.phase === 'ready' ? 'ready' : 'joining';
}

function members(
  ctx: PolicyContext,
): { id: string; state: string; replaces: string | undefined; zone: string; lifecycle: 'spot' | 'on-demand' }[] {
  return ctx.live().map((i) => ({ id: i.id, state: memberState(i), replaces: i.replaces, zone: i.zone, lifecycle: i.lifecycle }));
}

/** The agent's back-to-spot decision for one simulated instance (the cloud's view: every instance not terminated). */
function backToSpot(
  ctx: PolicyContext,
  instance: SimInstance,
  hedge: SpotHedgeOptions,
  losses: readonly HedgeLoss[],
  budget: ErrorBudget,
  launched?: { count: number; lastAt: number },
  creditMs?: number,
): SpotReturnStep {
  const live = ctx.live();
  return spotReturnStep({
    self: { id: instance.id, lifecycle: instance.lifecycle },
    pool: { lifecycle: 'spot', onDemandBase: 0 },
    onDemandIds: live.filter((i) => i.lifecycle === 'on-demand').map((i) => i.id),
    cluster: CLUSTER,
    role: ROLE,
    successors: live.filter((i) => i.replaces === instance.id).map((i) => i.id),
    members: members(ctx),
    handingOver: instance.draining,
    backoff: launched && { attempts: launched.count, lastAttemptAt: launched.lastAt, now: ctx.now, intervalMs: RETURN_TO_SPOT_CHECK_MS },
    settledZones: settledZones({ zones: ctx.zones, losses, now: ctx.now, budget, ...hedge }),
    poolSettled: poolSettled({ losses, now: ctx.now, budget, ...hedge }),
    ledger: creditMs === undefined ? undefined : { creditMs, options: hedge },
  });
}

export function synktiPolicy(options: SynktiPolicyOptions = {}): Policy {
  const replaceOnRebalance = options.replaceOnRebalance ?? true;
  let hedge: SpotHedgeOptions = options.hedge ?? {};
  let provider: SimInstanceProvider | undefined;
  const replacers = new Map<string, Replacer>();
  /**
   * The agent's zone exposure (zone-hazard.ts), fed as node-runtime feeds it: the view every
   * minute, every loss; like the agent, its one store of losses (notices and crashes), read
   * over the last LOSS_MEMORY_MS by placement and the hedge.
   */
  const exposure = new ZoneExposure();
  const recentLosses = (ctx: PolicyContext): HedgeLoss[] => exposure.recentLosses(ctx.now, LOSS_MEMORY_MS);
  /**
   * The week's error budget (spot-hedge.ts errorBudget), from the same store, as the agent's
   * Replacer and SpotReturn compute it; once per instant (the tick asks for each on-demand node).
   */
  let budgetAt: { now: number; budget: ErrorBudget } | undefined;
  const budgetOf = (ctx: PolicyContext): ErrorBudget => {
    if (budgetAt?.now !== ctx.now)
      budgetAt = { now: ctx.now, budget: errorBudget({ ...exposure.lossHistory(ctx.now), now: ctx.now, ...hedge }) };
    return budgetAt.budget;
  };
  const observe = (ctx: PolicyContext): void => exposure.observe(ctx.now, members(ctx), undefined, ctx.target);
  const zoneHazard = (zones: readonly string[], now: number): Readonly<Record<string, number>> => exposure.hazards(zones, now);
  const noteLoss = (ctx: PolicyContext, instance: SimInstance): void => {
    observe(ctx);
    // Serving: a member past its boot (the agent's view: not booting or joining) when it was lost.
    exposure.lost(instance.zone, ctx.now, instance.phase === 'ready');
  };
  /** The slot ledger's prices: the hedge's launch delay and ratio, and the sim's hand-over grace. */
  const ledger = (): SlotLedgerOptions => ({ ...hedge, handOverMs: HANDOVER_GRACE_MS });
  /**
   * The slot credit `instance` holds (spot-ledger.ts), as the agent computes it from its own
   * tag, launch and ready time: savings count until it stopped serving (drain or end).
   */
  const creditOf = (ctx: PolicyContext, instance: SimInstance): number =>
    slotCreditMs({
      // Every launch here is tagged; a spread move's successor (off by default) is not: a new slot's.
      tagCreditMs: readSlotCredit(provider!.tagsOf(instance.id)?.[TAG_SLOT_CREDIT], ledger()).creditMs,
      lifecycle: instance.lifecycle,
      launchedAt: instance.requestedAt,
      readyAt: instance.readyAt,
      now: Math.min(ctx.now, instance.drainedAt ?? instance.terminatedAt ?? ctx.now),
      movesLaunched: instance.lifecycle === 'on-demand' ? (launched.get(instance.id)?.count ?? 0) : 0,
      ...ledger(),
    });
  const replacerFor = (ctx: PolicyContext, instance: SimInstance): Replacer => {
    let replacer = replacers.get(instance.id);
    if (!replacer) {
      replacer = new Replacer({
        cluster: CLUSTER,
        instances: provider!,
        selfId: instance.id,
        liveMembers: () => members(ctx),
        templateFor: (role) =>
          role === ROLE ? { role, instanceType: 'sim', lifecycle: 'spot', userData: '', zones: ctx.zones } : undefined,
        recentLosses: () => recentLosses(ctx),
        lossHistory: () => exposure.lossHistory(ctx.now),
        clock: () => ctx.now,
        hedge,
        zoneHazard,
        slotCredit: (id) => {
          const found = ctx.live().find((i) => i.id === id) ?? provider!.instance(id);
          return found && creditOf(ctx, found);
        },
        logger: silentLogger,
      });
      replacers.set(instance.id, replacer);
    }
    return replacer;
  };
  const replace = (ctx: PolicyContext, instance: SimInstance): void => {
    // replaceSelf reaches provider.launch synchronously (before its first await), so the
    // launch happens at this simulated instant; the promise only records bookkeeping.
    replacerFor(ctx, instance)
      .replaceSelf(ROLE)
      .catch(() => {
        // No capacity anywhere and no on-demand fallback: the world counted the failed launch.
      });
  };
  const returnToSpot = options.returnToSpot ?? true;
  /** Spot successors launched per on-demand node, and when the last was (the agent's token and back-off). */
  const launched = new Map<string, { count: number; lastAt: number }>();
  const spreadMoves = options.spreadMoves ?? false;
  /** Spot replicas moving to another zone (successor launched, hand-over when it serves). */
  const moving = new Set<string>();
  const moveAttempts = new Map<string, number>();
  const spread = (ctx: PolicyContext): void => {
    const zonesWithCapacity = ctx.zones.filter((z) => ctx.spotCapacity(z));
    for (const instance of [...ctx.live()]) {
      if (instance.phase !== 'ready' || instance.draining || moving.has(instance.id)) continue;
      const step = spreadMoveStep({
        self: instance,
        members: members(ctx),
        zonesWithCapacity,
        target: ctx.target + (options.spare ?? 0),
        maxZones: options.spreadMaxZones,
      });
      if (step.kind !== 'move') continue;
      const attempt = (moveAttempts.get(instance.id) ?? 0) + 1;
      moveAttempts.set(instance.id, attempt);
      const launched = ctx.launch({
        lifecycle: 'spot',
        zone: step.zone,
        replaces: instance.id,
        clientToken: `synkti-spread-${instance.id}-${attempt}`,
      });
      if (launched) moving.add(instance.id);
    }
  };
  /**
   * Replacer.peerLost's decision (it runs on wall-clock timers, so the sim runs its steps):
   * nothing if an instance replaces the lost one (in the view, or ever launched for it, as
   * the cloud's SynktiReplaces listing shows), or its duty's holder; else launch with the
   * lost instance's token; a launch without capacity is retried every minute, as long as it takes.
   */
  const replaceLost = (ctx: PolicyContext, lost: SimInstance): void => {
    const view = members(ctx);
    if (view.some((m) => m.replaces === lost.id) || provider!.replaced(lost.id)) return;
    const duty = replacementDuty({ lostId: lost.id, lostReplaces: lost.replaces, members: view });
    if (duty !== lost.id && view.some((m) => m.replaces === duty)) return;
    if (handsDutyBack({ lostId: lost.id, duty, dutyLifecycle: view.find((m) => m.id === duty)?.lifecycle })) return;
    const clientToken = Replacer.clientToken(lost.id);
    const losses = recentLosses(ctx);
    const zoneOrder = placementZoneOrder({
      zones: ctx.zones,
      members: view,
      role: ROLE,
      leaving: lost.id,
      avoidZone: lost.zone,
      key: clientToken,
      losses,
      now: ctx.now,
      hazard: zoneHazard(ctx.zones, ctx.now),
    });
    const wanted = replacementLifecycle({
      template: { lifecycle: 'spot', zones: ctx.zones },
      losses,
      now: ctx.now,
      hedge,
      budget: budgetOf(ctx),
    });
    // The Replacer's ledger step: spot only when the lost instance's slot credit covers a notice.
    const plan = replacementCredit({ creditMs: creditOf(ctx, lost), lifecycle: wanted, ...ledger() });
    const record = provider!.launchNow({
      tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: ROLE, [TAG_REPLACES]: duty, [TAG_SLOT_CREDIT]: String(plan.tagCreditMs) },
      instanceType: 'sim',
      lifecycle: plan.lifecycle,
      clientToken,
      zoneOrder,
    });
    if (!record) ctx.after(LOSS_RECHECK_MS, 'replace-retry', () => replaceLost(ctx, lost));
  };
  const handOver = (ctx: PolicyContext, predecessor: SimInstance): void => {
    ctx.drain(predecessor);
    ctx.after(HANDOVER_GRACE_MS, 'handover', () => ctx.terminate(predecessor));
  };
  return {
    name: options.name ?? 'synkti',
    watchesNotices: true,
    routeToDrainingAsLastResort: options.lastResortDraining ?? false,
    controlIntervalMs: returnToSpot || spreadMoves ? RETURN_TO_SPOT_CHECK_MS : undefined,
    onTick(ctx) {
      observe(ctx);
      if (spreadMoves) spread(ctx);
      if (!returnToSpot) return;
      for (const od of [...ctx.live()]) {
        if (od.phase !== 'ready' || od.draining || od.lifecycle !== 'on-demand') continue;
        // The agent's own decision (packages/agent/src/spot-return.ts), as SpotReturn.check acts on it.
        const credit = creditOf(ctx, od);
        const losses = recentLosses(ctx);
        const step = backToSpot(ctx, od, hedge, losses, budgetOf(ctx), launched.get(od.id), credit);
        if (step.kind === 'hand-over') handOver(ctx, od);
        if (step.kind !== 'launch') continue;
        // The agent tries and fails without capacity; the world here knows, and skips the failed call.
        if (!ctx.zones.some((z) => ctx.spotCapacity(z))) return;
        const attempt = (launched.get(od.id)?.count ?? 0) + 1;
        launched.set(od.id, { count: attempt, lastAt: ctx.now });
        const clientToken = spotReturnClientToken(od.id, attempt);
        // SpotReturn's placement: the same pure rule over the same view.
        const zoneOrder = placementZoneOrder({
          zones: ctx.zones,
          members: members(ctx),
          role: ROLE,
          leaving: od.id,
          key: clientToken,
          losses,
          now: ctx.now,
          hazard: zoneHazard(ctx.zones, ctx.now),
        });
        provider!
          .launch({
            tags: {
              [TAG_CLUSTER]: CLUSTER,
              [TAG_ROLE]: ROLE,
              [TAG_REPLACES]: od.id,
              [TAG_SLOT_CREDIT]: String(successorCreditMs(credit, ledger())),
            },
            instanceType: 'sim',
            lifecycle: 'spot',
            clientToken,
            zoneOrder,
          })
          .then(
            (record) => {
              // The provider fell back to on-demand: that buys nothing; SpotReturn gives it back.
              if (record.lifecycle !== 'spot') return provider!.terminate([record.id]);
              return undefined;
            },
            () => {},
          );
      }
    },
    onReady(ctx, instance) {
      observe(ctx);
      // The agent checks every few minutes; the sim hands over at once (the check sees the same).
      const predecessor = instance.replaces === undefined ? undefined : ctx.live().find((i) => i.id === instance.replaces);
      if (!predecessor || predecessor.draining) return;
      if (moving.has(predecessor.id)) handOver(ctx, predecessor);
      else if (returnToSpot && backToSpot(ctx, predecessor, hedge, recentLosses(ctx), budgetOf(ctx)).kind === 'hand-over')
        handOver(ctx, predecessor);
    },
    // The agent sees its own notice; a peer lost without one is noticed through gossip (a few seconds).
    detectionDelayMs: 5_000,
    start(ctx) {
      // Fields the operator left unset (undefined) keep the world's launch delay and ratio.
      hedge = {
        launchDelayMs: ctx.launchDelayMs,
        priceRatio: ctx.priceRatio,
        ...Object.fromEntries(Object.entries(options.hedge ?? {}).filter(([, v]) => v !== undefined)),
      };
      provider = new SimInstanceProvider(ctx, options.onDemandFallback ?? true);
      for (let n = 0; n < ctx.target + (options.spare ?? 0); n++) {
        // A new slot: one move's credit (spot-ledger.ts).
        const credit = String(initialSlotCreditMs(ledger()));
        provider
          .launch({
            tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: ROLE, [TAG_SLOT_CREDIT]: credit },
            instanceType: 'sim',
            lifecycle: 'spot',
            clientToken: `synkti-initial-${n}`,
          })
          .catch(() => {});
      }
    },
    onNotice(ctx, instance) {
      noteLoss(ctx, instance);
      ctx.drain(instance);
      observe(ctx);
      replace(ctx, instance);
    },
    onRebalance(ctx, instance) {
      if (replaceOnRebalance) replace(ctx, instance);
    },
    onLost(ctx, instance) {
      // The survivors see the loss: a crash, or a preempted node that left (the agent's
      // node-runtime hands both to Replacer.peerLost). Usually the notice already launched
      // the replacement and this finds it; if that launch found no capacity, this is the retry.
      if (instance.noticeAt === undefined) noteLoss(ctx, instance);
      replaceLost(ctx, instance);
    },
  };
}

/**
 * The cloud as the agent sees it, backed by the simulated world: launches happen at the
 * current simulated time and are idempotent by client token; spot launches are placed by
 * spread + rendezvous over zones with capacity, falling back to on-demand.
 */
export class SimInstanceProvider implements InstanceProvider {
  private readonly byId = new Map<string, { sim: SimInstance; tags: Record<string, string> }>();

  constructor(
    private readonly ctx: PolicyContext,
    private readonly onDemandFallback: boolean,
  ) {}

  launch(spec: LaunchSpec): Promise<InstanceRecord> {
    const record = this.launchNow(spec);
    return record ? Promise.resolve(record) : Promise.reject(new Error('InsufficientInstanceCapacity: no capacity for this launch'));
  }

  /** An instance's tags (the cloud's record), live or ended. */
  tagsOf(id: string): Readonly<Record<string, string>> | undefined {
    return this.byId.get(id)?.tags;
  }

  /** A simulated instance this provider launched, live or ended. */
  instance(id: string): SimInstance | undefined {
    return this.byId.get(id)?.sim;
  }

  /** Whether any instance was ever launched tagged as replacing `id` (the cloud lists terminated ones too). */
  replaced(id: string): boolean {
    for (const entry of this.byId.values()) if (entry.tags[TAG_REPLACES] === id) return true;
    return false;
  }

  /** The launch, synchronously: the record, or undefined when neither spot nor (fallback) on-demand had capacity. */
  launchNow(spec: LaunchSpec): InstanceRecord | undefined {
    const ctx = this.ctx;
    let sim: SimInstance | undefined;
    if (spec.lifecycle === 'spot') {
      // A replacement avoids the zone of the instance it replaces when another zone has
      // capacity: that zone is the one at risk (a rebalance recommendation, a notice).
      // The caller's zone order (the agent's placementZoneOrder), as the AWS launch plan
      // honours it; without one (the initial fleet), the same spread rule over our instances.
      const replaced = spec.tags[TAG_REPLACES] === undefined ? undefined : this.byId.get(spec.tags[TAG_REPLACES]);
      const avoid = replaced ? new Set([replaced.sim.zone]) : undefined;
      const zones =
        spec.zone !== undefined
          ? [spec.zone]
          : spec.zoneOrder
            ? spec.zoneOrder.filter((z) => ctx.spotCapacity(z))
            : spreadZones(ctx, { key: spec.clientToken ?? `launch:${ctx.now}`, avoid });
      for (const zone of zones) {
        sim = ctx.launch({ lifecycle: 'spot', zone, replaces: spec.tags[TAG_REPLACES], clientToken: spec.clientToken });
        if (sim) break;
      }
    }
    if (!sim && (spec.lifecycle === 'on-demand' || this.onDemandFallback)) {
      sim = ctx.launch({
        lifecycle: 'on-demand',
        zone: spec.zone ?? ctx.zones[0],
        replaces: spec.tags[TAG_REPLACES],
        clientToken: spec.clientToken,
      });
    }
    if (!sim) return undefined;
    const entry = this.byId.get(sim.id) ?? { sim, tags: { ...spec.tags } };
    this.byId.set(sim.id, entry);
    return this.record(entry);
  }

  list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const states = filter.states ?? ['pending', 'running', 'shutting-down'];
    const items = [...this.byId.values()]
      .filter((e) => (filter.ids ? filter.ids.includes(e.sim.id) : true))
      .filter((e) => Object.entries(filter.tags ?? {}).every(([k, v]) => e.tags[k] === v))
      .map((e) => this.record(e))
      .filter((r) => states.includes(r.state));
    return Promise.resolve({ items });
  }

  terminate(ids: string[]): Promise<void> {
    for (const id of ids) {
      const entry = this.byId.get(id);
      if (entry) this.ctx.terminate(entry.sim);
    }
    return Promise.resolve();
  }

  tag(ids: string[], tags: Record<string, string>): Promise<void> {
    for (const id of ids) Object.assign(this.byId.get(id)?.tags ?? {}, tags);
    return Promise.resolve();
  }

  untag(ids: string[], keys: string[]): Promise<void> {
    for (const id of ids) {
      const tags = this.byId.get(id)?.tags;
      if (tags) for (const key of keys) delete tags[key];
    }
    return Promise.resolve();
  }

  private record(entry: { sim: SimInstance; tags: Record<string, string> }): InstanceRecord {
    const { sim } = entry;
    return {
      id: sim.id,
      state: sim.phase === 'terminated' ? 'terminated' : sim.phase === 'ready' ? 'running' : 'pending',
      stateReason: sim.endReason === 'preempted' ? 'Server.SpotInstanceTermination' : undefined,
      privateIp: '10.0.0.1',
      instanceType: 'sim',
      zone: sim.zone,
      lifecycle: sim.lifecycle,
      launchedAt: sim.requestedAt,
      tags: entry.tags,
    };
  }
}

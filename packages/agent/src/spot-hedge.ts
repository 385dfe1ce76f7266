import { LOSS_MEMORY_MS } from '@synkti/cloud';
import { DEFAULT_HEDGE_LAUNCH_DELAY_MS, DEFAULT_PRICE_RATIO } from '@synkti/core/spot-ledger';

/**
 * The capacity-aware hedge: is spot worth it in a zone right now? Pure; the agent's
 * Replacer and SpotReturn ask it, and the simulator runs them unchanged.
 *
 * Every loss of a serving spot replica costs about one launch delay with fewer than N
 * ready (the node drains at its notice; its replacement serves a launch delay later), and
 * a move to spot and back bills two instances through a boot. So a zone whose recent loss
 * events, over the same window placement remembers (LOSS_MEMORY_MS, 12 h), would spend
 * more than the availability objective's error budget, or whose expected spot run is too
 * short to pay for the boots, is *unsettled*: a replacement that finds no settled zone
 * goes on-demand, and an on-demand fallback stays there, until the losses age out of the
 * window. Nothing here is fitted to a trace: the bounds follow from the objective, the
 * launch delay and the price ratio (docs/adr/0009-spot-hedge.md).
 *
 * Given the week's error budget (errorBudget, allowedEvents), the bound per window scales
 * with what the week left unspent: a fixed share per window overshot the objective (0.3–0.4
 * points on flaky zone sets, paying on-demand it did not need), since most windows lose less.
 */

export interface SpotHedgeOptions {
  /**
   * Share of time the service must have every replica ready; its complement is the error
   * budget a zone's losses are held against. @default 0.99
   */
  availabilityObjective?: number | undefined;
  /** Launch to serving (boot + model load), the outage one loss costs. @default 183000 */
  launchDelayMs?: number | undefined;
  /** Spot price / on-demand price (the configured or observed ratio). @default 0.3 */
  priceRatio?: number | undefined;
  /** Off: every zone counts as settled (the agent before the hedge). @default true */
  enabled?: boolean | undefined;
}

export const DEFAULT_AVAILABILITY_OBJECTIVE = 0.99;
// Shared with the slot ledger (@synkti/core/spot-ledger), whose defaults they are too.
export { DEFAULT_HEDGE_LAUNCH_DELAY_MS, DEFAULT_PRICE_RATIO } from '@synkti/core/spot-ledger';
/**
 * Losses in one zone this close together are one event (one reclaim takes several of our
 * instances at once; their notices reach the agents within seconds): the notice length.
 */
export const LOSS_EVENT_GAP_MS = 120_000;

/** One loss the agents saw: zone, time, and whether the instance was serving (unknown: counted). */
export interface HedgeLoss {
  zone: string;
  at: number;
  serving?: boolean | undefined;
}

/** Loss events in `zone` within (since, now]: losses closer than LOSS_EVENT_GAP_MS count once. */
export function lossEvents(losses: readonly HedgeLoss[], zone: string, since: number, now: number): number {
  // A loss of an instance that was not serving (a successor still booting, a node already
  // handing over) takes no replica away: no outage.
  const times = losses
    .filter((l) => l.zone === zone && l.serving !== false && l.at > since && l.at <= now)
    .map((l) => l.at)
    .sort((a, b) => a - b);
  let events = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (const at of times) {
    if (at - last > LOSS_EVENT_GAP_MS) events++;
    last = at;
  }
  return events;
}

/**
 * The most loss events a zone may have had in the window and still be worth spot:
 * - availability: events × launch delay ≤ (1 − objective) × window (the zone's expected
 *   outage rate fits the error budget);
 * - cost: the expected run between losses, window / events, ≥ launch delay × (1 + r) / (1 − r)
 *   (what a spot run saves, (1 − r) per hour, pays for a spot boot and the on-demand boot
 *   after the loss, (1 + r) × launch delay).
 * E.g. 0.99, 183 s, 0.3, 12 h: 2 events (the cost bound allows 127); a 938 s launch: 0.
 */
export function lossBudget(options: SpotHedgeOptions = {}, windowMs: number = LOSS_MEMORY_MS): number {
  const objective = options.availabilityObjective ?? DEFAULT_AVAILABILITY_OBJECTIVE;
  const delay = Math.max(1, options.launchDelayMs ?? DEFAULT_HEDGE_LAUNCH_DELAY_MS);
  const r = Math.min(0.99, Math.max(0, options.priceRatio ?? DEFAULT_PRICE_RATIO));
  const byAvailability = ((1 - objective) * windowMs) / delay;
  const byCost = (windowMs * (1 - r)) / (delay * (1 + r));
  return Math.floor(Math.min(byAvailability, byCost));
}

/** The error budget's window: the week ZoneExposure keeps losses for. */
export const ERROR_BUDGET_WINDOW_MS = 7 * 86_400_000;

/** What the objective allows over the budget's window, and what the pool lost in it. */
export interface ErrorBudget {
  /** (1 − objective) × min(window, now − since), ms. */
  allowedMs: number;
  /** The measured shortfall, or else the union of [loss, loss + launch delay] over the window's serving losses, ms. */
  lostMs: number;
}

/** The pool's losses over the error budget's window, and since when they were watched. */
export interface LossHistory {
  losses: readonly HedgeLoss[];
  since?: number | undefined;
  /**
   * The time the pool was measured short (fewer than its target ready) over the window, and
   * since when it was measured: when given, what the budget counts as lost instead of the
   * launch-delay estimate per loss.
   */
  shortfall?: { ms: number; since: number } | undefined;
}

/** Most losses the budget reads (a week of a pool's: bounded like ZoneExposure's store). */
const MAX_BUDGET_LOSSES = 5000;

/**
 * The error budget over a long window (the week ZoneExposure remembers): what the objective
 * allows, (1 − objective) × the part of the window that was watched, and what the pool lost
 * in it: the measured time short of its target when known (the availability actually lost),
 * else an estimate from the serving losses, each about a launch delay below N (overlapping
 * outages counted once). Pure.
 */
export function errorBudget(
  input: {
    /** The pool's losses over at least the window (older ones are skipped). */
    losses: readonly HedgeLoss[];
    now: number;
    /** Since when the losses were watched (an agent's start); unknown: the whole window. */
    since?: number | undefined;
    /** @default ERROR_BUDGET_WINDOW_MS */
    windowMs?: number | undefined;
    /** Measured shortfall (LossHistory.shortfall): counted instead of the estimate. */
    shortfall?: { ms: number; since: number } | undefined;
  } & SpotHedgeOptions,
): ErrorBudget {
  const objective = input.availabilityObjective ?? DEFAULT_AVAILABILITY_OBJECTIVE;
  const delay = Math.max(1, input.launchDelayMs ?? DEFAULT_HEDGE_LAUNCH_DELAY_MS);
  const window = input.windowMs ?? ERROR_BUDGET_WINDOW_MS;
  if (input.shortfall) {
    const watched = Math.max(0, input.now - Math.max(input.now - window, input.shortfall.since));
    return { allowedMs: (1 - objective) * watched, lostMs: Math.max(0, input.shortfall.ms) };
  }
  const start = Math.max(input.now - window, input.since ?? Number.NEGATIVE_INFINITY);
  const allowedMs = Math.max(0, (1 - objective) * (input.now - start));
  const times: number[] = [];
  for (const l of input.losses.slice(-MAX_BUDGET_LOSSES)) if (l.serving !== false && l.at > start && l.at <= input.now) times.push(l.at);
  times.sort((a, b) => a - b);
  let lostMs = 0;
  let coveredTo = Number.NEGATIVE_INFINITY;
  for (const at of times) {
    const end = at + delay;
    if (end > coveredTo) lostMs += end - Math.max(at, coveredTo);
    coveredTo = Math.max(coveredTo, end);
  }
  return { allowedMs, lostMs };
}

/**
 * How many loss events the short window may hold and spot still be worth it. Without a
 * budget: lossBudget (a fixed share of the objective per window). With the week's error
 * budget: lossBudget's availability bound scaled by allowed / lost over the week, so the
 * hedge spends the budget instead of overshooting it: a pool that lost a third of what the
 * objective allows takes three times the spot risk in a flaky spell, one that lost it all
 * or more takes as much or less than before (lost below one launch delay counts as one).
 * The cost bound stays. E.g. 0.99, 183 s, 12 h: lost 70 % of the week's 6,048 s: 3 events.
 */
export function allowedEvents(options: SpotHedgeOptions, windowMs: number, budget: ErrorBudget | undefined): number {
  if (!budget) return lossBudget(options, windowMs);
  const objective = options.availabilityObjective ?? DEFAULT_AVAILABILITY_OBJECTIVE;
  const delay = Math.max(1, options.launchDelayMs ?? DEFAULT_HEDGE_LAUNCH_DELAY_MS);
  const r = Math.min(0.99, Math.max(0, options.priceRatio ?? DEFAULT_PRICE_RATIO));
  // A store that has watched for a short while has little to spend: a fresh agent is stricter
  // than lossBudget for its first hours (1 % of 5 h is one launch delay), not looser.
  const byAvailability = (((1 - objective) * windowMs) / delay) * (budget.allowedMs / Math.max(delay, budget.lostMs));
  const byCost = (windowMs * (1 - r)) / (delay * (1 + r));
  return Math.floor(Math.min(byAvailability, byCost));
}

/**
 * The pool's zones still worth spot now (order kept): those whose loss events in the last
 * `lossMemoryMs` are within allowedEvents (lossBudget without `budget`). Empty: hedge
 * on-demand. Without losses every zone is settled (a zone we never ran in has shown us
 * nothing).
 */
export function settledZones(
  input: {
    zones: readonly string[];
    losses: readonly HedgeLoss[] | undefined;
    now: number;
    lossMemoryMs?: number | undefined;
    /** The week's error budget (errorBudget); undefined: the short window alone. */
    budget?: ErrorBudget | undefined;
  } & SpotHedgeOptions,
): string[] {
  if (input.enabled === false || !input.losses || input.losses.length === 0) return [...input.zones];
  const window = input.lossMemoryMs ?? LOSS_MEMORY_MS;
  const allowed = allowedEvents(input, window, input.budget);
  return input.zones.filter((zone) => lossEvents(input.losses!, zone, input.now - window, input.now) <= allowed);
}

/**
 * Whether the pool as a whole is within its error budget: its loss events over the window,
 * across every zone (each one is an outage of about a launch delay wherever it happens:
 * availability counts the time with all N ready), within lossBudget. Not settled: every
 * on-demand fallback stays. Not a partial on-demand base: with N − k replicas still on spot
 * every zone reclaim still takes one of the N, so keeping k on-demand buys no availability
 * (measured: 4 flaky zones, N = 4, k = 1: 98.69 → 98.63 % at 41.6 → 47.3 % of on-demand).
 */
export function poolSettled(
  input: {
    losses: readonly HedgeLoss[] | undefined;
    now: number;
    lossMemoryMs?: number | undefined;
    budget?: ErrorBudget | undefined;
  } & SpotHedgeOptions,
): boolean {
  if (input.enabled === false || !input.losses || input.losses.length === 0) return true;
  const window = input.lossMemoryMs ?? LOSS_MEMORY_MS;
  const allowed = allowedEvents(input, window, input.budget);
  const zones = [...new Set(input.losses.map((l) => l.zone))];
  const events = zones.reduce((sum, zone) => sum + lossEvents(input.losses!, zone, input.now - window, input.now), 0);
  return events <= allowed;
}

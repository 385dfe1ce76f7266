/**
 * The ordered options one launch tries: each instance type (the requested one, then its
 * fallbacks) in each subnet, as spot, then, if allowed, the same again on-demand.
 * Spot capacity runs out per type and zone, so the next option is usually a different
 * pool. The subnet order is rotated per launch to spread a fleet across zones
 * (preemptions are correlated within a zone).
 *
 * Idempotency: each option has its own ClientToken derived from the launch's token and
 * the option itself, so repeating a launch with the same token reaches, option by
 * option, the same tokens, and an option that launched before returns that instance
 * instead of launching another. The rotation is derived from the token for the same reason.
 */
import { createHash } from 'node:crypto';
import { rendezvousRank } from '@synkti/core';
import type { Lifecycle } from '../../types.ts';

/**
 * The zone-spread rule, shared by the AWS provider's launch plan and the simulator: zones
 * holding the fewest of the pool's live instances first (preemptions are correlated within
 * a zone, so N replicas spread over Z zones keep at most ⌈N/Z⌉ in one while capacity
 * allows), ties by rendezvous rank of `key` (every node computes the same order, and
 * different launches spread over the tied zones); zones in `avoid` (the one a notice came
 * from) last. Pure.
 */
export function spreadZoneOrder(input: {
  zones: readonly string[];
  /** The pool's live instances per zone (missing: 0). */
  held: Readonly<Record<string, number>>;
  key: string;
  avoid?: ReadonlySet<string> | undefined;
  /** Recent losses per zone (preemptions of ours): fewer first, before held counts. */
  losses?: Readonly<Record<string, number>> | undefined;
  /**
   * Each zone's loss rate per exposed hour (the agent's zone-hazard.ts): zones within
   * ZONE_TIER_FACTOR of the best rate first, spread by held counts among them; a zone
   * reclaimed far more often only after them. @default none: every zone one tier
   */
  hazard?: Readonly<Record<string, number>> | undefined;
}): string[] {
  const rank = new Map(rendezvousRank(input.key, input.zones).map((z, i) => [z, i]));
  const avoided = (z: string): number => (input.avoid?.has(z) ? 1 : 0);
  const lost = (z: string): number => input.losses?.[z] ?? 0;
  const tier = hazardTiers(input.zones, input.hazard);
  return [...new Set(input.zones)].sort(
    (a, b) =>
      avoided(a) - avoided(b) ||
      lost(a) - lost(b) ||
      tier(a) - tier(b) ||
      (input.held[a] ?? 0) - (input.held[b] ?? 0) ||
      rank.get(a)! - rank.get(b)!,
  );
}

/** Zones whose loss rate is within this factor of the best one's share the first placement tier. */
export const ZONE_TIER_FACTOR = 2;

/** A zone's tier: 0 within ZONE_TIER_FACTOR of the best rate, 1 within its square, ...; 0 for all without rates. */
function hazardTiers(zones: readonly string[], hazard: Readonly<Record<string, number>> | undefined): (zone: string) => number {
  if (!hazard) return () => 0;
  const rates = zones.map((z) => hazard[z]).filter((h): h is number => h !== undefined && Number.isFinite(h) && h > 0);
  if (rates.length === 0) return () => 0;
  const best = Math.min(...rates);
  return (zone) => {
    const h = hazard[zone];
    // No rate (or a hostile one): no evidence against the zone.
    if (h === undefined || !Number.isFinite(h) || h <= best) return 0;
    return Math.min(64, Math.floor(Math.log(h / best) / Math.log(ZONE_TIER_FACTOR)));
  };
}

/** A pool member as the placement rule needs it (the agent's view, or the simulator's). */
export interface PlacementMember {
  id: string;
  zone?: string | undefined;
  role?: string | undefined;
  /** The agent state; `draining` / `stopped` ones are leaving and hold no place. */
  state?: string | undefined;
  /** When known (the simulator): on-demand instances are not reclaimed with a zone and do not count. */
  lifecycle?: 'spot' | 'on-demand' | undefined;
}

/**
 * How long a zone's loss weighs on placement: 12 hours. On the shipped 6-zone trace
 * (4 replicas) pure fewest-held spread gives 99.39 % all-ready; counting losses over
 * 6 h / 12 h / 24 h / 7 d gives 99.55 / 99.57 / 99.56 / 99.58 % (simulator, more-zones.ts).
 */
export const LOSS_MEMORY_MS = 12 * 3_600_000;

/** Most zones a placement considers (configured zones are operator input, bounded). */
export const MAX_PLACEMENT_ZONES = 64;

/**
 * Where a replacement (or a back-to-spot successor) of `leaving` should go, best first:
 * `spreadZoneOrder` over the pool's configured zones: the leaving instance's zone last when
 * it is under notice (`avoidZone`); then zones by how many of the pool's instances they
 * lost in the last `lossMemoryMs` (fewest first: a zone's preemptions come in runs, and
 * every zone we occupy exposes the whole fleet to its runs; with pure fewest-held spread,
 * 6 zones gave lower availability than their best 3-zone subset, 99.39 vs 99.67 %); then
 * the zones whose loss rate per exposed hour (`hazard`, a week) is within ZONE_TIER_FACTOR of
 * the best (a zone we left shows no recent loss but keeps its rate: six zones 99.62 → 99.69 %
 * against 99.74 % for the best subset); then held counts from the view (members of `role` that are not leaving, `leaving` excluded).
  The agent's Replacer and SpotReturn put the
 * result in the launch spec's `zoneOrder`; the simulator calls it unchanged. Pure.
 * Returns undefined without configured zones: zones the view does not know would sort
 * after the known ones, though they hold nothing; the provider's rotation is better then.
 */
export function placementZoneOrder(input: {
  /** The pool's configured zones (its `zones`, or the provider's subnets' zones). */
  zones: readonly string[] | undefined;
  members: readonly PlacementMember[];
  /** Pool (role) of the launch; members of other roles do not count. */
  role?: string | undefined;
  /** The instance being replaced or moved: it holds no place. */
  leaving: string;
  /** Zone the notice came from (tried last), if any. */
  avoidZone?: string | undefined;
  /** Rendezvous key of the tie-break: the launch's client token. */
  key: string;
  /** Zones and times of the pool's recent losses (notices, crashes) this node saw. @default none */
  losses?: readonly { zone: string; at: number }[] | undefined;
  /** Now (epoch ms, or simulated ms), for the loss window. */
  now?: number | undefined;
  /** Losses older than this are forgotten. @default LOSS_MEMORY_MS */
  lossMemoryMs?: number | undefined;
  /** Each zone's loss rate per exposed hour (spreadZoneOrder's tiers). @default none */
  hazard?: Readonly<Record<string, number>> | undefined;
}): string[] | undefined {
  if (!input.zones || input.zones.length === 0) return undefined;
  const zones = [...new Set(input.zones)].slice(0, MAX_PLACEMENT_ZONES);
  const held: Record<string, number> = {};
  for (const m of input.members) {
    if (m.id === input.leaving || m.zone === undefined || m.state === 'draining' || m.state === 'stopped' || m.lifecycle === 'on-demand')
      continue;
    if (input.role !== undefined && m.role !== undefined && m.role !== input.role) continue;
    held[m.zone] = (held[m.zone] ?? 0) + 1;
  }
  const avoid = input.avoidZone === undefined ? undefined : new Set([input.avoidZone]);
  let losses: Record<string, number> | undefined;
  if (input.losses && input.now !== undefined) {
    const since = input.now - (input.lossMemoryMs ?? LOSS_MEMORY_MS);
    losses = {};
    for (const loss of input.losses) if (loss.at > since && loss.at <= input.now) losses[loss.zone] = (losses[loss.zone] ?? 0) + 1;
  }
  return spreadZoneOrder({ zones, held, key: input.key, avoid, losses, hazard: input.hazard });
}

/** The most replicas one zone should hold: ⌈N/Z⌉ over the zones that have capacity. */
export function zoneSpreadLimit(replicas: number, zonesWithCapacity: number): number {
  return zonesWithCapacity <= 0 ? replicas : Math.ceil(replicas / zonesWithCapacity);
}

export interface AwsSubnet {
  subnetId: string;
  /** Availability zone of the subnet, e.g. `us-east-1a`. */
  zone: string;
}

export interface LaunchOption {
  instanceType: string;
  lifecycle: Lifecycle;
  /** Subnet to launch into; undefined: the default VPC (placed in `zone` if set). */
  subnet: AwsSubnet | undefined;
  zone: string | undefined;
  clientToken: string;
}

export interface LaunchPlanInput {
  instanceTypes: readonly string[];
  lifecycle: Lifecycle;
  onDemandFallback: boolean;
  /** Configured subnets, already narrowed to the requested zone. */
  subnets: readonly AwsSubnet[];
  /** Requested zone, used only when there are no subnets. */
  zone: string | undefined;
  clientToken: string;
  /** Rotation of the subnet order when the caller gave no token (a counter). */
  rotation: number;
  /** True when `clientToken` came from the caller (then the rotation derives from it). */
  callerToken: boolean;
  /**
   * Zones best first (spreadZoneOrder over the pool's instances per zone): subnets are
   * tried in this zone order instead of the rotation; zones not listed come last.
   */
  zoneOrder?: readonly string[] | undefined;
}

function hashHex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The ClientToken of one option: the launch token itself for the first, derived for the others (≤ 64 characters). */
export function optionClientToken(launchToken: string, option: Omit<LaunchOption, 'clientToken'>, first: boolean): string {
  if (first) return launchToken;
  const stem = launchToken.length <= 40 ? launchToken : hashHex(launchToken).slice(0, 40);
  const what = hashHex([option.instanceType, option.lifecycle, option.subnet?.subnetId ?? '', option.zone ?? ''].join('|')).slice(0, 12);
  return `${stem}-${what}`;
}

export function launchPlan(input: LaunchPlanInput): LaunchOption[] {
  const types = [...new Set(input.instanceTypes)];
  const n = input.subnets.length;
  const offset = n === 0 ? 0 : (input.callerToken ? parseInt(hashHex(input.clientToken).slice(0, 8), 16) : input.rotation) % n;
  let subnets: (AwsSubnet | undefined)[] = n === 0 ? [undefined] : [...input.subnets.slice(offset), ...input.subnets.slice(0, offset)];
  if (input.zoneOrder && n > 0) {
    const position = (s: AwsSubnet | undefined): number => {
      const i = input.zoneOrder!.indexOf(s!.zone);
      return i < 0 ? input.zoneOrder!.length : i;
    };
    // Stable: within a zone, the rotation's order.
    subnets = subnets
      .map((s, i) => ({ s, i }))
      .sort((a, b) => position(a.s) - position(b.s) || a.i - b.i)
      .map(({ s }) => s);
  }
  const markets: Lifecycle[] = input.lifecycle === 'on-demand' ? ['on-demand'] : input.onDemandFallback ? ['spot', 'on-demand'] : ['spot'];
  const options: LaunchOption[] = [];
  for (const lifecycle of markets) {
    for (const instanceType of types) {
      for (const subnet of subnets) {
        const option = { instanceType, lifecycle, subnet, zone: subnet?.zone ?? input.zone };
        options.push({ ...option, clientToken: optionClientToken(input.clientToken, option, options.length === 0) });
      }
    }
  }
  return options;
}

/** A readable name for one option, used in errors that list what was tried. */
export function describeOption(option: LaunchOption): string {
  const where = option.subnet ? `${option.subnet.zone} (${option.subnet.subnetId})` : (option.zone ?? 'any zone');
  return `${option.lifecycle} ${option.instanceType} in ${where}`;
}

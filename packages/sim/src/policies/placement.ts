import { rendezvousRank } from '@synkti/core';
import type { PolicyContext } from '../policy.ts';

/** Our spot instances per zone that are not under notice. */
export function spotPerZone(ctx: PolicyContext): Map<string, number> {
  const counts = new Map<string, number>(ctx.zones.map((z) => [z, 0]));
  for (const i of ctx.live()) if (i.lifecycle === 'spot' && i.noticeAt === undefined) counts.set(i.zone, (counts.get(i.zone) ?? 0) + 1);
  return counts;
}

/**
 * Zones to try for a spot launch, best first: zones with capacity, fewest of our replicas
 * first (spread: preemptions are correlated within a zone), ties broken by `tieBreak`
 * (rendezvous rank, or zone order).
 */
export function spreadZones(ctx: PolicyContext, options: { key?: string; avoid?: ReadonlySet<string> } = {}): string[] {
  const counts = spotPerZone(ctx);
  const order = options.key === undefined ? [...ctx.zones] : rendezvousRank(options.key, ctx.zones);
  const rank = new Map(order.map((z, i) => [z, i]));
  const candidates = ctx.zones.filter((z) => ctx.spotCapacity(z));
  const preferred = candidates.filter((z) => !options.avoid?.has(z));
  const pool = preferred.length > 0 ? preferred : candidates;
  return pool.sort((a, b) => (counts.get(a)! - counts.get(b)!) || (rank.get(a)! - rank.get(b)!));
}

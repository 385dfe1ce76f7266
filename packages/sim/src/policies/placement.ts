import { spreadZoneOrder } from '@synkti/cloud';
import type { PolicyContext } from '../policy.ts';

/** Our spot instances per zone that are not under notice. */
export function spotPerZone(ctx: PolicyContext): Map<string, number> {
  const counts = new Map<string, number>(ctx.zones.map((z) => [z, 0]));
  for (const i of ctx.live()) if (i.lifecycle === 'spot' && i.noticeAt === undefined) counts.set(i.zone, (counts.get(i.zone) ?? 0) + 1);
  return counts;
}

/**
 * Zones to try for a spot launch, best first: zones with capacity, in the order of the
 * zone-spread rule the AWS provider's launch plan uses (`spreadZoneOrder`, @synkti/cloud):
 * fewest of our replicas first, the avoided zone last, ties by rendezvous rank of `key`.
 */
export function spreadZones(ctx: PolicyContext, options: { key?: string; avoid?: ReadonlySet<string> } = {}): string[] {
  const held = Object.fromEntries(spotPerZone(ctx));
  const candidates = ctx.zones.filter((z) => ctx.spotCapacity(z));
  return spreadZoneOrder({ zones: candidates, held, key: options.key ?? 'launch', avoid: options.avoid });
}

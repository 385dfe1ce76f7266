import { rendezvousRank } from '@synkti/core';

/** How many nodes carry a pool's record: the decider and its next two in line. */
export const AUTOSCALE_RECORD_KEEPERS = 3;

/**
 * Who decides a pool's size: the first ready member in the rendezvous order of
 * `autoscale:<cluster>:<pool>`; the next ones keep copies of the pool's record. Every node
 * computes the same from its own view (no election, no control plane); when the decider
 * leaves, the next in line already holds the record.
 */
export function autoscaleOrder(cluster: string, pool: string, readyIds: Iterable<string>): string[] {
  return rendezvousRank(`autoscale:${cluster}:${pool}`, readyIds);
}

/** This node's part for a pool: decide, keep a copy of the record, or nothing. */
export function autoscaleRole(cluster: string, pool: string, readyIds: Iterable<string>, selfId: string): 'decider' | 'keeper' | 'none' {
  const order = autoscaleOrder(cluster, pool, readyIds);
  const rank = order.indexOf(selfId);
  if (rank === 0) return 'decider';
  return rank > 0 && rank < AUTOSCALE_RECORD_KEEPERS ? 'keeper' : 'none';
}

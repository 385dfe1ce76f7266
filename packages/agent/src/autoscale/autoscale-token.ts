import { createHash } from 'node:crypto';

/**
 * The client token of the `slot`-th launch of a scale-out decision: the same cluster, pool,
 * epoch and slot always give the same token, so a decider that takes over mid-action (the
 * first one crashed, or the view changed) and decides the same step launches nothing twice;
 * the provider answers with the instance already launched. A later decision has a new
 * epoch, so its tokens are new (a token names one launch forever, even once terminated).
 * EC2's rule: at most 64 printable ASCII characters.
 */
export function autoscaleClientToken(cluster: string, pool: string, epoch: number, slot: number): string {
  const digest = createHash('sha256').update(`${cluster}\0${pool}`).digest('hex').slice(0, 16);
  return `as-${digest}-${epoch}-${slot}`;
}

import type { RolloutNode } from './rollout-plan.ts';

/**
 * How a rollout reads readiness over time, as a load balancer's unhealthy threshold does: a
 * node seen serving keeps counting as serving until it has been seen not serving
 * `threshold` looks in a row. One look is a status probe and a router health check with
 * short timeouts; on a loaded machine one of them misses now and then, and the plan
 * (rollout-plan.ts) must not take a miss for a fact: an old node that missed once was
 * drained as "not serving" while the surge was still booting (the pool fell to 2 of 3), and
 * new nodes that had served were terminated with a late one at a failure (it fell to 1).
 * A node never seen serving gets no credit: a new node must pass every check once.
 */
export class ReadyHysteresis {
  private readonly threshold: number;
  /** Nodes seen serving in this run → looks missed in a row since. */
  private readonly misses = new Map<string, number>();

  /** @param threshold looks in a row a serving node must miss to count as not serving. @default 3 */
  constructor(threshold = 3) {
    this.threshold = Math.max(1, threshold);
  }

  /** The nodes of one look with `ready` held for nodes that served and missed fewer than `threshold` looks. */
  apply(nodes: readonly RolloutNode[]): RolloutNode[] {
    const present = new Set<string>();
    const out = nodes.map((node) => {
      present.add(node.id);
      if (node.ready) {
        this.misses.set(node.id, 0);
        return node;
      }
      const missed = this.misses.get(node.id);
      // Leaving nodes are on their way out whatever they answer.
      if (missed === undefined || node.leaving) return node;
      this.misses.set(node.id, missed + 1);
      return missed + 1 < this.threshold ? { ...node, ready: true } : node;
    });
    // Bounded by the pool: nodes no longer listed are forgotten.
    for (const id of [...this.misses.keys()]) if (!present.has(id)) this.misses.delete(id);
    return out;
  }
}

/**
 * The next step of a rolling update, decided from what the fleet looks like now and nothing
 * else: no state is kept between steps, so a rerun of `synkti deploy` (after a Ctrl-C, a
 * crash of the operator's machine, or a replacement that came up meanwhile) continues where
 * the fleet is. Pure, for the unit tests.
 */

/** One live node of the pool, as the rollout sees it. */
export interface RolloutNode {
  id: string;
  /** The config generation it runs (its agent's status, else its launch tag); undefined: unknown. */
  generation: string | undefined;
  /** Ready: the agent says ready, its router's health answers 200, and every peer of the pool lists it ready. */
  ready: boolean;
  /** Draining or shutting down: on its way out, counted neither as old nor as new. */
  leaving: boolean;
  /** Epoch ms of the launch: a new node not ready within the bound after it failed. */
  launchedAt: number;
  /** In-flight requests (the least loaded old node is drained first). @default 0 */
  load?: number | undefined;
}

export interface RolloutPlanInput {
  nodes: readonly RolloutNode[];
  /** The generation the pool is moving to. */
  target: string;
  /** How many nodes the pool serves with: it never has fewer ready, and at most one more (the surge). */
  count: number;
  now: number;
  /** How long a new node may take to become ready before the rollout fails. */
  readyTimeoutMs: number;
}

export type RolloutStep =
  /** Every live node runs the target generation and is ready (or the pool is empty). */
  | { kind: 'done'; ready: number }
  /** Launch one node of the target generation. */
  | { kind: 'surge' }
  /** A node of the target generation is on its way: wait for it. */
  | { kind: 'wait'; ids: string[] }
  /** Drain (gracefully terminate) this old node: a new ready node took its place. */
  | { kind: 'drain'; id: string }
  /** New nodes did not become ready in time: stop and roll back (terminate them). */
  | { kind: 'failed'; ids: string[] };

export function planRolloutStep(input: RolloutPlanInput): RolloutStep {
  const live = input.nodes.filter((n) => !n.leaving);
  const fresh = live.filter((n) => n.generation === input.target);
  const old = live.filter((n) => n.generation !== input.target);
  const pending = fresh.filter((n) => !n.ready);
  const late = pending.filter((n) => input.now - n.launchedAt > input.readyTimeoutMs);
  if (late.length > 0) return { kind: 'failed', ids: pending.map((n) => n.id) };
  const readyFresh = fresh.length - pending.length;
  // A node whose generation nobody can tell yet (booting, no launch tag: e.g. a replacement an agent launched) is waited for, not drained.
  const unknown = live.filter((n) => n.generation === undefined && input.now - n.launchedAt <= input.readyTimeoutMs);
  if (unknown.length > 0) return { kind: 'wait', ids: unknown.map((n) => n.id) };
  if (old.length > 0) {
    // Old nodes that do not serve are drained first: they carry no traffic and hold no capacity.
    const idleOld = old.filter((n) => !n.ready);
    const serving = readyFresh + (old.length - idleOld.length);
    if (readyFresh > 0 && (serving > input.count || idleOld.length > 0)) {
      const pick = [...(idleOld.length > 0 ? idleOld : old)].sort(
        (a, b) => (a.load ?? 0) - (b.load ?? 0) || a.launchedAt - b.launchedAt || a.id.localeCompare(b.id),
      )[0]!;
      return { kind: 'drain', id: pick.id };
    }
  }
  if (pending.length > 0) return { kind: 'wait', ids: pending.map((n) => n.id) };
  // Only old nodes cause a surge: a pool below its count (a node lost) is refilled by the agents' replacement, not here.
  if (old.length > 0) return { kind: 'surge' };
  return { kind: 'done', ready: readyFresh };
}

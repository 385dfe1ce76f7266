/**
 * A rolling update of one pool, driven from the operator's machine (no control plane):
 * surge one node of the new generation, wait until it serves (agent ready, router health
 * 200, every peer of the pool lists it ready), drain one old node the way a scale-in does
 * (SIGTERM: it finishes its requests and leaves), repeat. The plan of each step is read from
 * the fleet itself (rollout-plan.ts), so a rerun continues where the last one stopped.
 * A new node not ready within the bound stops the rollout: the new nodes that never served
 * are terminated and every node's desired config goes back to its own.
 *
 * How the pool is looked at and how its agents are told are given (`observe`, `agents`):
 * the CLI passes its fleet access (synkti deploy), tests a simulated fleet.
 */
import { createHash } from 'node:crypto';
import { SynktiError, TAG_CLUSTER, TAG_GENERATION, TAG_ROLE, configGeneration, formatDuration, type ClusterSpec } from '@synkti/core';
import type { InstanceProvider } from '@synkti/cloud';
import { planRolloutStep, type RolloutNode, type RolloutStep } from './rollout-plan.ts';
import { ReadyHysteresis } from './ready-hysteresis.ts';

/** What a rolling update needs of the fleet. */
export interface RollingFleet {
  spec: ClusterSpec;
  instances: Pick<InstanceProvider, 'launch' | 'terminate'>;
  /** The user data new nodes of `spec` boot with. */
  userData(): Promise<string>;
}

export interface RolloutOptions {
  /** The pool to roll. */
  pool: string;
  /** How many nodes the pool serves with during the rollout. @default the pool's count in the config; an autoscaled pool's live size at the start */
  count?: number | undefined;
  /** How long a new node may take to serve before the rollout stops and rolls back. @default the workload's startupTimeout + 60 s */
  readyTimeoutMs?: number | undefined;
  /** How often the fleet is looked at. @default 500 */
  pollMs?: number | undefined;
  /** A progress line per step. @default none */
  onProgress?: ((line: string) => void) | undefined;
  /** Stop early (the fleet is left as it is; a rerun continues). @default none */
  signal?: AbortSignal | undefined;
  /** @default Date.now */
  clock?: () => number;
  /** The generation and user data to roll to. @default the fleet's config (fleet.spec, fleet.userData()) */
  target?: { generation: string; userData: string } | undefined;
  /** How the pool is looked at: its nodes (gone: ids sent away) and why each not-ready one is not ready. */
  observe: (gone: ReadonlySet<string>) => Promise<{ nodes: RolloutNode[]; notReady: Map<string, string> }>;
  /** How the nodes are told the desired config and asked for their boot config. */
  agents: RolloutAgents;
}

/** What the rollout asks of the agents besides their status. */
export interface RolloutAgents {
  setDesired(body: { role: string; generation: string; userData: string | null }): Promise<{ told: number; missed: string[] }>;
  /** The boot config of a live node of the pool running `generation` (a rollback relaunches it); undefined when none answers. */
  bootConfig(pool: string, generation: string): Promise<string | undefined>;
}

export interface RolloutResult {
  pool: string;
  /** The generation the pool was moved to (or that failed). */
  generation: string;
  /** Generations the pool's live nodes ran when the rollout started (id → generation, '?' when unknown). */
  before: Record<string, string>;
  /** rolled-out: every live node runs `generation`; rolled-back: a new node never served, the new ones were removed; unchanged: nothing to do. */
  outcome: 'rolled-out' | 'rolled-back' | 'unchanged';
  surged: string[];
  drained: string[];
  /** New nodes terminated by a rollback. */
  removed: string[];
  /** A rollback that moved nodes already rolled back to the previous generation (absent: none was needed). */
  rollback?: { generation: string; outcome: RolloutResult['outcome']; surged: string[]; drained: string[]; removed: string[] } | undefined;
  /** The pool's ready nodes at the end, with their generations. */
  after: Record<string, string>;
  tookMs: number;
}

/** One surge per set of old nodes: a rerun that finds the same old nodes gets the same instance back (EC2 ClientToken). */
export function surgeToken(generation: string, oldIds: readonly string[]): string {
  const digest = createHash('sha256')
    .update(`${generation}\n${[...oldIds].sort().join('\n')}`)
    .digest('hex');
  return `synkti-deploy-${digest.slice(0, 24)}`;
}

function describeStep(step: RolloutStep): string {
  switch (step.kind) {
    case 'surge':
      return 'surge';
    case 'wait':
      return `wait for ${step.ids.join(', ')}`;
    case 'drain':
      return `drain ${step.id}`;
    case 'failed':
      return `failed: ${step.ids.join(', ')}`;
    case 'done':
      return 'done';
  }
}

/**
 * Roll `options.pool` of the fleet to the generation of `fleet.spec` (the config being
 * deployed; its user data is what new nodes boot with), or to `options.target`.
 */
export async function runRollingUpdate(fleet: RollingFleet, options: RolloutOptions): Promise<RolloutResult> {
  const { spec } = fleet;
  const pool = spec.pools[options.pool];
  if (!pool)
    throw new SynktiError('E_USAGE', `no pool named ${JSON.stringify(options.pool)} in cluster ${spec.name}`, {
      hint: `pools: ${Object.keys(spec.pools).join(', ')}`,
    });
  const target = options.target ?? { generation: configGeneration(spec), userData: await fleet.userData() };
  const forward = await rollTo(fleet, options, target);
  if (forward.outcome !== 'rolled-back') return forward;
  const say = options.onProgress ?? (() => {});
  const agents = options.agents;
  // Nodes already moved serve the new generation: move them back, the same way, so the pool
  // is again what it was. The previous generation's config is read from one of its nodes.
  const previous = Object.values(forward.before).find((g) => g !== '?' && g !== target.generation);
  const moved = Object.values(forward.after).filter((g) => g === target.generation).length;
  const userData = moved > 0 && previous !== undefined ? await agents.bootConfig(options.pool, previous) : undefined;
  if (moved > 0 && (previous === undefined || userData === undefined)) {
    say(`  ${moved} node(s) already on ${target.generation} stay: no node of the previous generation told its config`);
    return forward;
  }
  if (moved === 0 || previous === undefined || userData === undefined) return forward;
  say(`${spec.name}/${options.pool}: rolling ${moved} node(s) back to ${previous}`);
  const back = await rollTo(fleet, options, { generation: previous, userData }, true);
  // Replacements boot each node's own config again (the previous generation's, everywhere now).
  await agents.setDesired({ role: options.pool, generation: previous, userData: null });
  return {
    ...forward,
    after: back.after,
    tookMs: forward.tookMs + back.tookMs,
    rollback: { generation: previous, outcome: back.outcome, surged: back.surged, drained: back.drained, removed: back.removed },
  };
}

async function rollTo(
  fleet: RollingFleet,
  options: RolloutOptions,
  target: { generation: string; userData: string },
  rollingBack = false,
): Promise<RolloutResult> {
  const { spec } = fleet;
  const pool = spec.pools[options.pool]!;
  const clock = options.clock ?? Date.now;
  const say = options.onProgress ?? (() => {});
  const readyTimeoutMs = options.readyTimeoutMs ?? (spec.workload?.startupTimeoutMs ?? 0) + 60_000;
  const pollMs = options.pollMs ?? 500;
  const lookOnce = options.observe;
  // A node that served counts as serving until it misses 3 looks in a row (one slow probe is not a fact).
  const hysteresis = new ReadyHysteresis();
  const observe = async (gone: ReadonlySet<string>): Promise<{ nodes: RolloutNode[]; notReady: Map<string, string> }> => {
    const seen = await lookOnce(gone);
    return { ...seen, nodes: hysteresis.apply(seen.nodes) };
  };
  const agents = options.agents;
  const { generation } = target;
  const started = clock();
  const drained = new Set<string>();
  const surged: string[] = [];
  const removed: string[] = [];

  const first = await observe(drained);
  const before = Object.fromEntries(first.nodes.filter((n) => !n.leaving).map((n) => [n.id, n.generation ?? '?']));
  // The pool's size: its config count, or for an autoscaled pool the size it has now (not
  // counting a surge of an earlier run that does not serve yet): a rollout does not resize.
  const count =
    options.count ??
    (pool.autoscale ? Math.max(1, first.nodes.filter((n) => !n.leaving && !(n.generation === generation && !n.ready)).length) : pool.count);
  say(
    `${spec.name}/${options.pool}: ${rollingBack ? 'back' : 'rolling'} ${Object.keys(before).length} node(s) to generation ${generation} (count ${count}, a new node gets ${formatDuration(readyTimeoutMs)} to serve)`,
  );
  // From now on, a node lost mid-rollout is replaced with this generation, by whichever agent replaces it.
  const told = await agents.setDesired({ role: options.pool, generation, userData: target.userData });
  if (told.missed.length > 0)
    say(`  desired config not taken by ${told.missed.join(', ')} (they would replace with their own; a rerun tells them again)`);

  let lastLine = '';
  let lastWhy = '';
  for (;;) {
    if (options.signal?.aborted)
      throw new SynktiError('E_ABORTED', `the rollout of ${options.pool} was stopped`, {
        hint: 'run `synkti deploy` again: it continues where the fleet is',
      });
    const { nodes, notReady } = await observe(drained);
    const step = planRolloutStep({ nodes, target: generation, count, now: clock(), readyTimeoutMs });
    const elapsed = formatDuration(clock() - started);
    const fresh = nodes.filter((n) => !n.leaving && n.generation === generation);
    const line = `  ${elapsed}  ${fresh.filter((n) => n.ready).length}/${count} on ${generation}: ${describeStep(step)}`;
    if (step.kind !== 'wait' && line !== lastLine) say(line);
    lastLine = line;
    // While waiting, say what is missing, when it changes.
    if (step.kind === 'wait') {
      const why = step.ids.map((id) => `${id}: ${notReady.get(id) ?? 'starting'}`).join('; ');
      if (why !== lastWhy) say(`  ${elapsed}  waiting: ${why}`);
      lastWhy = why;
    }
    if (step.kind === 'done') {
      const outcome = surged.length > 0 || drained.size > 0 ? 'rolled-out' : 'unchanged';
      const after = await settle(observe, drained, spec.timeouts.shutdownGraceMs + 10_000, pollMs, clock);
      say(
        `${spec.name}/${options.pool}: ${outcome === 'unchanged' ? 'already' : rollingBack ? 'rolled back:' : 'rolled out:'} ${Object.keys(after).length} node(s) on ${generation} in ${formatDuration(clock() - started)}`,
      );
      return { pool: options.pool, generation, before, outcome, surged, drained: [...drained], removed, after, tookMs: clock() - started };
    }
    if (step.kind === 'surge') {
      const oldIds = nodes.filter((n) => !n.leaving && n.generation !== generation).map((n) => n.id);
      const record = await fleet.instances.launch({
        tags: { [TAG_CLUSTER]: spec.name, [TAG_ROLE]: options.pool, [TAG_GENERATION]: generation },
        instanceType: pool.instanceType,
        lifecycle: pool.lifecycle,
        userData: target.userData,
        clientToken: surgeToken(generation, oldIds),
      });
      surged.push(record.id);
      say(`  ${elapsed}  surged ${record.id} (${generation}); waiting until it serves`);
    } else if (step.kind === 'drain') {
      drained.add(step.id);
      // A graceful terminate: the agent drains (its router stops taking requests, in-flight ones finish) and leaves.
      await fleet.instances.terminate([step.id]);
      say(`  ${elapsed}  draining ${step.id}`);
    } else if (step.kind === 'failed') {
      say(
        `  ${elapsed}  ${step.ids.join(', ')} did not serve within ${formatDuration(readyTimeoutMs)}: stopping${rollingBack ? '' : ' the rollout and rolling back'}`,
      );
      await fleet.instances.terminate(step.ids);
      removed.push(...step.ids);
      // Replacements go back to each node's own config (the generation it serves).
      await agents.setDesired({ role: options.pool, generation, userData: null });
      const after = await settle(observe, new Set([...drained, ...removed]), spec.timeouts.shutdownGraceMs + 10_000, pollMs, clock);
      say(
        `${spec.name}/${options.pool}: stopped; serving ${Object.keys(after).length} node(s): ${[...new Set(Object.values(after))].join(', ')}`,
      );
      return {
        pool: options.pool,
        generation,
        before,
        outcome: 'rolled-back',
        surged,
        drained: [...drained],
        removed,
        after,
        tookMs: clock() - started,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Wait (bounded) until the nodes that were sent away are gone; the pool's ready nodes with their generations. */
async function settle(
  observe: RolloutOptions['observe'],
  gone: ReadonlySet<string>,
  boundMs: number,
  pollMs: number,
  clock: () => number,
): Promise<Record<string, string>> {
  const until = clock() + boundMs;
  for (;;) {
    const { nodes } = await observe(gone);
    const stillThere = nodes.some((n) => gone.has(n.id));
    if (!stillThere || clock() >= until) {
      return Object.fromEntries(nodes.filter((n) => !n.leaving && n.ready).map((n) => [n.id, n.generation ?? '?']));
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

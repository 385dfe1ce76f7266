/**
 * `synkti scale <pool> <n>`: set how many nodes a pool runs right now (the config's
 * `count` is not changed; `synkti up` only ever launches what is missing).
 *
 * Scale out launches the missing nodes, tagged at launch like any other. Scale in picks
 * the nodes to remove (scaleInOrder) and terminates them gracefully: each agent drains
 * inside its shutdown grace and leaves, so no request or task is dropped. On the local
 * provider the command then waits until the pool has exactly n ready nodes that see each
 * other and none of the removed ones; on aws it returns once EC2 has the launches and
 * terminations (agents report ready minutes later: `synkti status`).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, TAG_ROLE, formatDuration, isSynktiError, type ClusterSpec } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import { progressState, type NodeReport } from '../agent-status.ts';
import { openFleet, type FleetAccess } from '../fleet/fleet-access.ts';
import { probeNodes } from '../fleet/node-reports.ts';
import { createNodeProgress } from '../output.ts';
import { launchWorkers } from '@synkti/agent/worker-fleet';
import { REQUIRED_LAUNCH_SETTINGS, launchSettingsFrom, type LaunchOptionValues } from '../worker/launch-options.ts';
import { asUsageError } from '../worker/worker-settings.ts';

/** Most nodes one pool may be scaled to: local nodes are processes on this machine. */
export const MAX_SCALE = { local: 64, aws: 1000 } as const;

export interface ScaleOptions {
  /** How long to wait for the pool to settle (local provider). @default 60000 */
  timeoutMs?: number | undefined;
  /** Wait until the pool has n ready nodes (local provider only; aws never waits). @default true */
  wait?: boolean | undefined;
  /** No progress on stderr. @default false */
  quiet?: boolean | undefined;
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
  /**
   * aws: the launch flags of `synkti worker launch` (--image-id, --bucket, --sha256, ...);
   * each one not given is read from its SYNKTI_* variable in `env`. @default {} (all from env)
   */
  launch?: LaunchOptionValues | undefined;
  /** Environment for launch settings (SYNKTI_*) and the cluster secret. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
}

export interface ScaleResult {
  cluster: string;
  pool: string;
  provider: 'local' | 'aws';
  /** Live nodes of the pool before. */
  from: number;
  to: number;
  launched: string[];
  terminated: string[];
  /** True once the pool had `to` ready nodes; undefined when not waited for (aws, --no-wait). */
  ready: boolean | undefined;
  waitedMs: number;
  /** The pool's nodes at the end. */
  nodes: NodeReport[];
}

/** The count from the command line: a whole number from 0 to the provider's maximum. */
export function parseNodeCount(text: string | number, provider: 'local' | 'aws'): number {
  const n = typeof text === 'number' ? text : /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  const max = MAX_SCALE[provider];
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new SynktiError('E_USAGE', `node count must be a whole number of 0 or more, not ${JSON.stringify(String(text))}`, {
      hint: 'e.g. synkti scale worker 3 (0 stops the pool)',
    });
  }
  if (n > max) {
    throw new SynktiError(
      'E_USAGE',
      `${n} nodes is more than the ${max} ${provider === 'aws' ? 'an' : 'a'} ${provider} pool may be scaled to at once`,
      {
        hint:
          provider === 'local'
            ? 'local nodes are processes on this machine: use provider aws for a large fleet'
            : `scale in steps of at most ${max}, or split the fleet into several pools`,
      },
    );
  }
  return n;
}

/** The pool named, or an error listing the known ones. */
export function checkPool(spec: ClusterSpec, pool: string): string {
  if (spec.pools[pool]) return pool;
  const known = Object.keys(spec.pools);
  throw new SynktiError('E_USAGE', `no pool named ${JSON.stringify(pool)} in cluster ${spec.name}`, {
    hint: `pools: ${known.join(', ')} (from synkti.config.ts)`,
  });
}

/**
 * Which nodes go first when a pool shrinks: nodes that serve nothing (still booting,
 * unreachable, draining or not ready), then the least loaded, then the newest (the oldest
 * have proven they run and hold warm caches); ids break ties so the choice is stable.
 */
export function scaleInOrder(reports: NodeReport[]): NodeReport[] {
  const serving = (r: NodeReport): number => (r.status?.state === 'ready' && r.record.state === 'running' ? 1 : 0);
  return [...reports].sort(
    (a, b) =>
      serving(a) - serving(b) ||
      (a.status?.load ?? 0) - (b.status?.load ?? 0) ||
      b.record.launchedAt - a.record.launchedAt ||
      a.record.id.localeCompare(b.record.id),
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The user data new nodes boot with; on aws a missing setting names its flag and SYNKTI_* variable. */
export async function launchUserData(fleet: FleetAccess): Promise<string> {
  try {
    return await fleet.userData();
  } catch (error) {
    const usage = asUsageError(error);
    if (fleet.kind !== 'aws' || !isSynktiError(usage, 'E_USAGE')) throw usage;
    throw new SynktiError('E_USAGE', usage.message, {
      cause: error,
      hint: `${usage.hint ? `${usage.hint}; ` : ''}launching on aws needs ${REQUIRED_LAUNCH_SETTINGS}: the settings of \`synkti worker launch\`, each a flag or its SYNKTI_* variable`,
    });
  }
}

async function poolReports(fleet: FleetAccess, pool: string): Promise<NodeReport[]> {
  const records = (await fleet.list({ role: pool })).filter((r) => r.state !== 'shutting-down');
  return probeNodes(fleet, records);
}

/** Settled: exactly `to` live nodes, all ready, each seeing all the others and none of the removed. */
function settled(reports: NodeReport[], to: number, removed: Set<string>, stillListed: InstanceRecord[]): boolean {
  if (stillListed.some((r) => removed.has(r.id))) return false;
  if (reports.length !== to) return false;
  const ids = reports.map((r) => r.record.id);
  return reports.every(
    (r) =>
      r.status?.state === 'ready' &&
      ids.every((id) => r.status!.members.some((m) => m.id === id)) &&
      !r.status.members.some((m) => removed.has(m.id)),
  );
}

export async function scale(
  spec: ClusterSpec,
  configFile: string,
  pool: string,
  count: number | string,
  options: ScaleOptions = {},
): Promise<ScaleResult> {
  checkPool(spec, pool);
  const to = parseNodeCount(count, spec.provider);
  const env = options.env ?? process.env;
  const launch = launchSettingsFrom(options.launch ?? {}, env);
  const fleet = openFleet(spec, { configFile, ec2Client: options.ec2Client, env, userData: launch.userData, aws: launch.aws });
  const progress = createNodeProgress(process.stderr, options.quiet === true);
  const started = Date.now();
  try {
    const before = await poolReports(fleet, pool);
    const from = before.length;
    let launched: string[] = [];
    let terminated: string[] = [];
    if (to > from) {
      const records = await launchWorkers(fleet.instances, spec, {
        count: to - from,
        role: pool,
        userData: await launchUserData(fleet),
        onLaunched: (record, i, n) =>
          progress.observe([{ id: record.id, state: 'launching' }], `${pool}: launched ${i + 1}/${n} (${from} → ${to})`),
      });
      launched = records.map((r) => r.id);
    } else if (to < from) {
      terminated = scaleInOrder(before)
        .slice(0, from - to)
        .map((r) => r.record.id);
      progress.observe(
        terminated.map((id) => ({ id, state: 'draining' })),
        `${pool}: draining ${plural(terminated.length, 'node')}`,
      );
      await fleet.instances.terminate(terminated);
    }
    const wait = options.wait !== false && fleet.kind === 'local';
    if (!wait) {
      progress.done(
        `${spec.name}/${pool}: ${from} → ${to}${launched.length ? `, launched ${launched.join(', ')}` : ''}${terminated.length ? `, terminating ${terminated.join(', ')}` : ''}`,
      );
      return {
        cluster: spec.name,
        pool,
        provider: fleet.kind,
        from,
        to,
        launched,
        terminated,
        ready: undefined,
        waitedMs: 0,
        nodes: await poolReports(fleet, pool),
      };
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    const removed = new Set(terminated);
    let nodes: NodeReport[] = [];
    let ready = false;
    while (true) {
      const listed = await fleet.list({ role: pool });
      nodes = await probeNodes(
        fleet,
        listed.filter((r) => r.state !== 'shutting-down'),
      );
      ready = settled(nodes, to, removed, listed);
      const readyCount = nodes.filter((r) => r.status?.state === 'ready').length;
      const leaving = listed.filter((r) => removed.has(r.id)).length;
      progress.observe(
        [
          ...nodes.map((r) => ({ id: r.record.id, state: progressState(r) })),
          ...listed.filter((r) => r.state === 'shutting-down').map((r) => ({ id: r.id, state: 'stopping' })),
          ...terminated.filter((id) => !listed.some((r) => r.id === id)).map((id) => ({ id, state: 'terminated' })),
        ],
        `${pool}: ${readyCount}/${to} ready${leaving ? `, ${leaving} draining` : ''} (${formatDuration(Date.now() - started)})`,
      );
      if (ready || Date.now() - started >= timeoutMs) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const waitedMs = Date.now() - started;
    progress.done(
      ready
        ? `${spec.name}/${pool}: ${from} → ${to}, ${plural(to, 'node')} ready in ${formatDuration(waitedMs)}`
        : `${spec.name}/${pool}: not settled at ${to} after ${formatDuration(timeoutMs)} (see \`synkti status\`)`,
    );
    return { cluster: spec.name, pool, provider: fleet.kind, from, to, launched, terminated, ready, waitedMs, nodes };
  } finally {
    fleet.close();
  }
}

export function scaleResultToJson(result: ScaleResult, nodesToJson: (reports: NodeReport[]) => unknown[]): unknown {
  return { ...result, ready: result.ready ?? null, nodes: nodesToJson(result.nodes) };
}

export function describeScale(result: ScaleResult): string {
  const roleOf = (r: NodeReport) => r.status?.role ?? r.record.tags[TAG_ROLE] ?? '-';
  const lines = [`${result.cluster}/${result.pool}: ${result.from} → ${result.to} nodes`];
  if (result.launched.length) lines.push(`  launched:    ${result.launched.join(', ')}`);
  // On aws the command returns at once: the removed nodes are still draining, the new ones booting.
  const waited = result.ready !== undefined;
  if (result.terminated.length)
    lines.push(
      `  terminated:  ${result.terminated.join(', ')} ${waited ? '(drained, then left)' : '(each agent drains and leaves as its instance shuts down)'}`,
    );
  if (!waited && result.launched.length && result.provider === 'aws')
    lines.push('  new agents are ready once booted and their model is fetched: watch `synkti status`');
  // A node whose agent did not answer shows the cloud's view, marked as such (as `synkti status` does on aws).
  const stateOf = (r: NodeReport) => r.status?.state ?? (result.provider === 'aws' ? `ec2:${r.record.state}` : r.record.state);
  for (const node of result.nodes) lines.push(`  ${node.record.id}  ${roleOf(node)}  ${stateOf(node)}`);
  return lines.join('\n');
}

/**
 * A rolling update of one pool, driven from the operator's machine (no control plane):
 * surge one node of the new generation, wait until it serves (agent ready, router health
 * 200, every peer of the pool lists it ready), drain one old node the way a scale-in does
 * (SIGTERM: it finishes its requests and leaves), repeat. The plan of each step is read from
 * the fleet itself (rollout-plan.ts), so a rerun continues where the last one stopped.
 * A new node not ready within the bound stops the rollout: the new nodes that never served
 * are terminated and every node's desired config goes back to its own.
 *
 * The rollout itself is @synkti/agent/rollout's; this is the fleet access it runs with
 * here: the agents' status and router health (observePool) and their API (fleetAgents).
 */
import { SynktiError, TAG_GENERATION, TAG_PORT_ROUTER, desiredConfigTag, desiredConfigTagValue, type ClusterSpec } from '@synkti/core';
import { runRollingUpdate, type RolloutAgents, type RolloutNode, type RolloutOptions, type RolloutResult } from '@synkti/agent/rollout';
import { AGENT_API_PATHS, ROUTER_HEALTH_PATH } from '@synkti/core/contracts';
import type { InstanceRecord } from '@synkti/cloud';
import type { NodeReport } from '../agent-status.ts';
import type { FleetAccess } from '../fleet/fleet-access.ts';
import { probeNodes } from '../fleet/node-reports.ts';
import { agentUrl, fetchAgent } from '../local-fleet.ts';

export type { RolloutAgents, RolloutResult } from '@synkti/agent/rollout';

const POOL_LIMIT = 1000;

function routerUrl(record: InstanceRecord, spec: ClusterSpec): string {
  return `http://${record.privateIp}:${record.tags[TAG_PORT_ROUTER] ?? String(spec.ports.router)}`;
}

async function routerHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url + ROUTER_HEALTH_PATH, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** The pool as the plan sees it: generation from the agent (else the launch tag), ready only when the node serves and its peers route to it. */
export async function observePool(
  fleet: FleetAccess,
  pool: string,
  drained: ReadonlySet<string>,
): Promise<{ nodes: RolloutNode[]; reports: NodeReport[]; notReady: Map<string, string> }> {
  const records = (await fleet.list({ role: pool })).slice(0, POOL_LIMIT);
  const reports = await probeNodes(fleet, records);
  const leaving = (r: NodeReport): boolean =>
    r.record.state === 'shutting-down' || drained.has(r.record.id) || r.status?.state === 'draining' || r.status?.state === 'stopped';
  const staying = reports.filter((r) => !leaving(r) && r.status);
  // Why a node does not count as serving yet (progress lines say it while the rollout waits).
  const notReady = new Map<string, string>();
  const nodes = await Promise.all(
    reports.map(async (r): Promise<RolloutNode> => {
      const agentReady = r.status?.state === 'ready' && r.record.state === 'running';
      // Routers send only to members they hold ready: every staying peer must list it so.
      const routing = staying.filter((peer) => peer.status!.members.some((m) => m.id === r.record.id && m.state === 'ready')).length;
      const peersRoute = agentReady && routing === staying.length;
      const ready = peersRoute && (await routerHealthy(routerUrl(r.record, fleet.spec)));
      if (!ready) {
        notReady.set(
          r.record.id,
          !r.status
            ? `${r.record.state}, agent not answering yet`
            : !agentReady
              ? `agent ${r.status.state}${r.status.workload ? `, workload ${r.status.workload.state}` : ''}`
              : !peersRoute
                ? `${routing} of ${staying.length} nodes route to it`
                : 'router health not 200',
        );
      }
      return {
        id: r.record.id,
        generation: r.status?.generation ?? r.record.tags[TAG_GENERATION],
        ready,
        leaving: leaving(r),
        launchedAt: r.record.launchedAt,
        load: r.status?.load ?? 0,
      };
    }),
  );
  return { nodes, reports, notReady };
}

/**
 * Tell every live node of the cluster (any pool: any node may replace a lost one) which
 * config replacements of `pool` boot with. Nodes that do not answer are named; the rollout
 * goes on (they boot replacements with their own config, and a rerun tells them again).
 */
export async function setDesiredConfig(
  fleet: FleetAccess,
  body: { role: string; generation: string; userData: string | null },
): Promise<{ told: number; missed: string[] }> {
  const secret = fleet.secret;
  const records = (await fleet.list()).filter((r) => r.state === 'running' || r.state === 'pending');
  if (secret === undefined) return { told: 0, missed: records.map((r) => r.id) };
  // The cloud's record vouches for the config (agents refuse it otherwise): tag first, with
  // this machine's cloud credentials, then ask. Clearing needs no vouching; the tag goes.
  if (records.length > 0) {
    const key = desiredConfigTag(body.role);
    const ids = records.map((r) => r.id);
    try {
      if (body.userData === null) await fleet.instances.untag(ids, [key]);
      else await fleet.instances.tag(ids, { [key]: desiredConfigTagValue(body.generation, body.userData) });
    } catch {
      return { told: 0, missed: ids };
    }
  }
  const results = await Promise.all(
    records.map(async (record) => {
      try {
        const response = await fetch(agentUrl(record, fleet.spec.ports.agent) + AGENT_API_PATHS.desiredConfig, {
          method: 'PUT',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          // The agent reads its own instance's tag from the cloud before it answers (an EC2
          // call from the node): 2 s missed one of 3 on the emulated AWS at load 27.
          signal: AbortSignal.timeout(10_000),
        });
        await response.body?.cancel();
        return response.ok ? undefined : record.id;
      } catch {
        return record.id;
      }
    }),
  );
  const missed = results.filter((id): id is string => id !== undefined);
  return { told: records.length - missed.length, missed };
}

/** The agents' API as the rollout uses it. */
export function fleetAgents(fleet: FleetAccess): RolloutAgents {
  return {
    setDesired: (body) => setDesiredConfig(fleet, body),
    async bootConfig(pool, generation) {
      const secret = fleet.secret;
      if (secret === undefined) return undefined;
      const records = (await fleet.list({ role: pool })).filter((r) => r.state === 'running').slice(0, 16);
      for (const record of records) {
        const answer = await fetchAgent<{ generation?: unknown; userData?: unknown }>(
          agentUrl(record, fleet.spec.ports.agent),
          secret,
          AGENT_API_PATHS.desiredConfig,
          2000,
        );
        if (answer?.generation === generation && typeof answer.userData === 'string' && answer.userData.length > 0) return answer.userData;
      }
      return undefined;
    },
  };
}

/** `synkti deploy`'s options: the rollout's, with the fleet's own observation and agents by default. */
export type CliRolloutOptions = Omit<RolloutOptions, 'observe' | 'agents'> & Partial<Pick<RolloutOptions, 'observe' | 'agents'>>;

/**
 * Roll `options.pool` of the fleet to the generation of `fleet.spec` (the config being
 * deployed; its user data is what new nodes boot with), or to `options.target`.
 */
export async function runRollout(fleet: FleetAccess, options: CliRolloutOptions): Promise<RolloutResult> {
  if (fleet.secret === undefined && options.observe === undefined) {
    throw new SynktiError('E_USAGE', `no cluster secret for ${fleet.spec.name}: a rollout asks every agent whether it serves`, {
      hint: 'set SYNKTI_CLUSTER_SECRET (or SYNKTI_CLUSTER_SECRET_FILE) and run from where the agents are reachable',
    });
  }
  return runRollingUpdate(fleet, {
    ...options,
    observe: options.observe ?? (async (gone) => observePool(fleet, options.pool, gone)),
    agents: options.agents ?? fleetAgents(fleet),
  });
}

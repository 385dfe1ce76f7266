import { readFileSync } from 'node:fs';
import { liveProcessStats, processStartTime } from '@synkti/cloud';
import { join } from 'node:path';

/** The processes of one local node: its instance host, the agent it booted, the agent's workload. */
export interface LocalNodePids {
  /** The instance host (the "machine"; leader of the node's process group). */
  host: number;
  /** The agent: the host's boot command. */
  agent?: number | undefined;
  /** The workload the agent supervises (model server): absent when it runs none. */
  workload?: number | undefined;
}

/** pid → parent pid of every live process, from /proc (empty where there is no /proc). */
export function parentPids(): Map<number, number> {
  return new Map(liveProcessStats().map((stat) => [stat.pid, stat.ppid]));
}

/**
 * The pid the agent's supervisor recorded for its workload (the instance dir's
 * workload.pid), when that very process still runs (same start time: pids are reused).
 * An agent that restarted adopts its workload, which is then no longer its child.
 */
function recordedWorkload(instanceDir: string): number | undefined {
  try {
    const record = JSON.parse(readFileSync(join(instanceDir, 'workload.pid'), 'utf8').slice(0, 4096)) as {
      pid?: unknown;
      startTime?: unknown;
    };
    const pid = Number(record.pid);
    return Number.isInteger(pid) && pid > 0 && processStartTime(pid) === Number(record.startTime) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A local node's pids: the host from the registry; the agent as it reports itself (else the host's child); the
 * workload as its supervisor recorded it, else as the agent's child. Only live processes
 * are named.
 */
export function localNodePids(
  hostPid: number | undefined,
  instanceDir: string,
  parents: Map<number, number>,
  agentPid?: number,
): LocalNodePids | undefined {
  if (hostPid === undefined || !parents.has(hostPid)) return undefined;
  const childrenOf = (pid: number): number[] =>
    [...parents]
      .filter(([, parent]) => parent === pid)
      .map(([child]) => child)
      .sort((a, b) => a - b);
  // The pid the agent reports itself, when it answered; else the host's (first) child.
  const agent = agentPid !== undefined && parents.has(agentPid) ? agentPid : childrenOf(hostPid)[0];
  const workload = recordedWorkload(instanceDir) ?? (agent === undefined ? undefined : childrenOf(agent)[0]);
  return { host: hostPid, agent, workload };
}

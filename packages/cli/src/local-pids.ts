import { readFileSync, readdirSync } from 'node:fs';
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

/** pid → parent pid of every process, from /proc (empty where there is no /proc). */
export function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return parents;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 2 (comm) is in parentheses and may hold spaces: ppid is the 2nd field after ')'.
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number.isInteger(ppid)) parents.set(Number(name), ppid);
    } catch {
      // Exited while we looked.
    }
  }
  return parents;
}

/** The pid the agent's supervisor recorded for its workload (instance dir's workload.pid), if it is a child of `agent`. */
function recordedWorkload(instanceDir: string, agent: number, parents: Map<number, number>): number | undefined {
  try {
    const record = JSON.parse(readFileSync(join(instanceDir, 'workload.pid'), 'utf8').slice(0, 4096)) as { pid?: unknown };
    const pid = Number(record.pid);
    return Number.isInteger(pid) && parents.get(pid) === agent ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A local node's pids: the host from the registry; the agent as the host's child; the
 * workload as the agent's child (the one its supervisor recorded, when it did). Only live
 * processes are named.
 */
export function localNodePids(hostPid: number | undefined, instanceDir: string, parents: Map<number, number>): LocalNodePids | undefined {
  if (hostPid === undefined || !parents.has(hostPid)) return undefined;
  const childrenOf = (pid: number): number[] => [...parents].filter(([, parent]) => parent === pid).map(([child]) => child).sort((a, b) => a - b);
  const agent = childrenOf(hostPid)[0];
  const workload = agent === undefined ? undefined : recordedWorkload(instanceDir, agent, parents) ?? childrenOf(agent)[0];
  return { host: hostPid, agent, workload };
}

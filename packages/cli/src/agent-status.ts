import type { ChaosSettings, InstanceRecord } from '@synkti/cloud';
import type { LocalNodePids } from './local-pids.ts';
import { agentUrl, fetchAgentStatus, type LocalFleet } from './local-fleet.ts';
import type { AgentStatus as ContractAgentStatus } from '@synkti/core/contracts';

/** What the CLI shows of an agent's GET /status (read with fetchAgentStatus: parsed against @synkti/core/contracts, never cast). */
export type AgentStatus = Pick<
  ContractAgentStatus,
  'id' | 'role' | 'zone' | 'state' | 'address' | 'ports' | 'uptimeMs' | 'load' | 'members' | 'workload' | 'model'
> &
  Partial<Pick<ContractAgentStatus, 'pid' | 'generation' | 'desiredGenerations' | 'autoscale'>>;

export interface NodeReport {
  record: InstanceRecord;
  status: AgentStatus | undefined;
  /** Local nodes (status only): the node's processes on this machine. */
  pids?: LocalNodePids | undefined;
  /** Local nodes (status only): the chaos settings the node is under. */
  chaos?: ChaosSettings | undefined;
}

/** Each instance with its agent's status (undefined where the agent does not answer). */
export async function collectNodeReports(fleet: LocalFleet, records: InstanceRecord[]): Promise<NodeReport[]> {
  return Promise.all(
    records.map(async (record) => ({
      record,
      status: await fetchAgentStatus(agentUrl(record, fleet.spec.ports.agent), fleet.secret),
    })),
  );
}

/** True when every node is ready and all report the same membership: the expected ids. */
export function converged(reports: NodeReport[]): boolean {
  const expected = reports
    .map((r) => r.record.id)
    .sort()
    .join(',');
  return (
    reports.length > 0 &&
    reports.every(
      (r) =>
        r.status?.state === 'ready' &&
        r.status.members
          .map((m) => m.id)
          .sort()
          .join(',') === expected,
    )
  );
}

/**
 * A node's state for progress lines: launching (the cloud has not started it), booting (no
 * agent answers yet), joined (its agent answers, not ready yet: its workload is starting),
 * then the agent's own state (ready, draining...), stopping, terminated.
 */
export function progressState(report: NodeReport): string {
  const { record, status } = report;
  if (record.state === 'terminated') return 'terminated';
  if (record.state === 'shutting-down') return status ? `${status.state}, stopping` : 'stopping';
  if (record.state === 'pending') return 'launching';
  if (!status) return 'booting';
  if (status.state === 'ready') return 'ready';
  return status.state === 'draining' || status.state === 'stopped' ? status.state : 'joined';
}
